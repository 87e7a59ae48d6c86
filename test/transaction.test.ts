import { describe, expect, it } from 'vitest';
import { afterCommit, inRequestTransaction, withTransaction } from '../src/transaction.js';
import { databaseKind, useTestApp } from './support/app.js';

const test = useTestApp();

const backend = async (db: { query: (text: string) => Promise<{ rows: Array<{ pid: number }> }> }) =>
  (await db.query('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;

describe('a request transaction (src/transaction.ts)', () => {
  it('takes the statements sent to the pool and the transactions begun inside it, and runs afterCommit callbacks after the commit', async () => {
    const client = await test.app.db.connect();
    const own = await backend(client);
    const calls: string[] = [];
    let leftRunning: (() => Promise<number>) | undefined;
    try {
      await client.query('BEGIN');
      const { result, ended } = inRequestTransaction(client, async () => {
        expect(await backend(test.app.db)).toBe(own);
        expect(await withTransaction(test.app.db, async (tx) => tx === client)).toBe(true);
        afterCommit(() => calls.push('after commit'));
        leftRunning = () => backend(test.app.db);
        return 'done';
      });
      expect(await result).toBe('done');
      expect(calls).toEqual([]);
      await client.query('COMMIT');
      ended(true);
      expect(calls).toEqual(['after commit']);
    } finally {
      client.release();
    }
    // Work the request left running after its transaction ended goes to the pool, not to the
    // released connection, which may now serve another request (here: held by the test again).
    if (databaseKind() === 'postgres') {
      const again = await test.app.db.connect();
      try {
        expect(await backend(again)).toBe(own);
        expect(await leftRunning!()).not.toBe(own);
      } finally {
        again.release();
      }
    }
    afterCommit(() => calls.push('outside'));
    expect(calls).toEqual(['after commit', 'outside']);
  });

  it('runs no afterCommit callback when the transaction rolled back', async () => {
    const client = await test.app.db.connect();
    const calls: string[] = [];
    try {
      await client.query('BEGIN');
      const { result, ended } = inRequestTransaction(client, async () => afterCommit(() => calls.push('after commit')));
      await result;
      await client.query('ROLLBACK');
      ended(false);
    } finally {
      client.release();
    }
    expect(calls).toEqual([]);
  });
});
