import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { PATIENT_DATABASE_BOUNDS, until } from './wait.js';

const projectRoot = fileURLToPath(new URL('../..', import.meta.url));

export interface WorkerProcess {
  readonly child: ChildProcess;
  /** Everything the process logged so far, for failure messages. */
  output(): string;
  /** Resolves once the process has logged `text`. */
  logged(text: string): Promise<void>;
  /** Resolves once the process works on jobs. */
  ready(): Promise<void>;
  /** The process's CPU priority (its nice value), as the kernel has it. */
  nice(): Promise<number>;
  /** Sends `signal` and waits for the exit: its code, or the signal that ended it. */
  stop(signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Resolves once a process of the test's has logged `text`; fails if it exits first. */
export function untilLogged(child: ChildProcess, output: () => string, text: string): Promise<void> {
  return until(() => {
    if (output().includes(text)) return true;
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`the process exited before logging '${text}':\n${output()}`);
    return false;
  }, `the process to log '${text}'`);
}

/** `npm run worker`, from the sources: a real process with its own pool, queue maintenance and workers. */
export function startWorkerProcess(databaseUrl: string, env: Record<string, string> = {}): WorkerProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/server.ts', 'worker'], {
    cwd: projectRoot,
    env: { ...process.env, ...PATIENT_DATABASE_BOUNDS, DATABASE_URL: databaseUrl, LOG_LEVEL: 'info', NODE_ENV: 'test', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (data: Buffer) => (output += data.toString()));
  child.stderr!.on('data', (data: Buffer) => (output += data.toString()));
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;

  const logged = (text: string) => untilLogged(child, () => output, text);

  return {
    child,
    output: () => output,
    logged,
    ready: () => logged('working on async action jobs'),
    async nice() {
      const stat = await readFile(`/proc/${child.pid}/stat`, 'utf8');
      // The 19th field; the command (the 2nd) is in parentheses and may hold spaces.
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
    },
    async stop(signal) {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const [code, endedBy] = await exited;
      return { code, signal: endedBy };
    },
  };
}
