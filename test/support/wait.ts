import { setTimeout as sleep } from 'node:timers/promises';

/**
 * How long a test waits for something it is sure will happen before it gives up with a message.
 * It only turns a hang into a readable failure: no test passes or fails by how fast the machine
 * is, so it is sized for the slowest machine CI may run on, loaded.
 */
export const PATIENCE_MS = 120_000;

/**
 * Database bounds for the apps and processes a test starts, sized for a loaded machine: a test
 * that is not about these bounds should be slowed by a busy machine, never failed by it.
 */
export const PATIENT_DATABASE_BOUNDS = { DATABASE_CONNECT_TIMEOUT_MS: '10000', DATABASE_STATEMENT_TIMEOUT_MS: '120000' };

/** Polls `condition` until it holds. A wait for a state, never a bet on how long something takes. */
export async function until(condition: () => boolean | Promise<boolean>, what: string, timeoutMs = PATIENCE_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`still waiting, after ${timeoutMs} ms, for ${what}`);
    await sleep(20);
  }
}
