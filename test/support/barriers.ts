import pg from 'pg';
import { until } from './wait.js';

/**
 * A barrier a test holds: a row lock on one customer, taken in a transaction on the test's own
 * connection. A write that reaches that customer waits until the test lets go, so a test can
 * stop a request or a job at a known point, instead of hoping the machine is slow (or fast)
 * enough. Taking it fires no trigger and locks nothing else.
 */
export interface CustomerLock {
  /** Resolves once `count` other database sessions wait on this lock. */
  waiters(count?: number): Promise<void>;
  /** Lets the waiting writes go on. */
  release(): Promise<void>;
}

export async function lockCustomer(databaseUrl: string, customerId: string): Promise<CustomerLock> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  await client.query('BEGIN');
  const locked = await client.query('SELECT 1 FROM customers WHERE id = $1 FOR UPDATE', [customerId]);
  if (locked.rowCount !== 1) {
    await client.end();
    throw new Error(`no customer ${customerId} to lock`);
  }
  const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
  const holder = rows[0]!.pid;
  let released = false;
  return {
    async waiters(count = 1) {
      await until(async () => {
        const { rows: waiting } = await client.query<{ count: number }>(
          // pg_locks, not pg_stat_activity: a transaction sees pg_stat_activity as it first read it.
          'SELECT count(DISTINCT pid)::int AS count FROM pg_locks WHERE NOT granted AND $1::int = ANY(pg_blocking_pids(pid))',
          [holder],
        );
        return waiting[0]!.count >= count;
      }, `${count} session(s) to wait on the lock of customer ${customerId}`);
    },
    async release() {
      if (released) return;
      released = true;
      await client.query('ROLLBACK');
      await client.end();
    },
  };
}
