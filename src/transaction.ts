import { AsyncLocalStorage } from 'node:async_hooks';
import pg from 'pg';

/**
 * The transaction a request runs all its statements in (a request sent with an
 * Idempotency-Key: its writes and its stored answer commit together), and what waits for the
 * commit.
 */
interface RequestTransaction {
  client: pg.PoolClient;
  afterCommit: Array<() => void>;
  /** Once it committed or rolled back: a statement sent later (work the request left running) goes to the pool. */
  ended: boolean;
}

const requestTransaction = new AsyncLocalStorage<RequestTransaction>();

/** The request's transaction, while it is open. */
const openTransaction = (): RequestTransaction | undefined => {
  const transaction = requestTransaction.getStore();
  return transaction?.ended === false ? transaction : undefined;
};

/**
 * Runs `work` with every statement on `client`, which holds an open transaction: statements
 * sent to the pool (TransactionalPool) and transactions begun (withTransaction) join it. The
 * caller commits or rolls back, then calls `ended()`, which runs what waited for a commit.
 */
export function inRequestTransaction<T>(
  client: pg.PoolClient,
  work: () => Promise<T>,
): { result: Promise<T>; ended(committed: boolean): void } {
  const transaction: RequestTransaction = { client, afterCommit: [], ended: false };
  return {
    result: requestTransaction.run(transaction, work),
    ended: (committed) => {
      transaction.ended = true;
      if (!committed) return;
      // Outside the request's context: work started here has nothing to do with its transaction.
      requestTransaction.exit(() => {
        for (const callback of transaction.afterCommit) callback();
      });
    },
  };
}

/** Calls `callback` once what was just written is committed: now, or when the request's transaction commits. */
export function afterCommit(callback: () => void): void {
  const transaction = openTransaction();
  if (transaction) transaction.afterCommit.push(callback);
  else callback();
}

type Query = (...args: unknown[]) => never;

/**
 * The service's pool: a statement sent to it while a request runs in its own transaction
 * (inRequestTransaction) goes to that transaction's connection; any other, to a pooled one.
 */
export class TransactionalPool extends pg.Pool {
  // One signature for pg's many overloads: the arguments go on unchanged.
  override query(...args: unknown[]): never {
    const transaction = openTransaction();
    if (transaction) return (transaction.client.query as Query).apply(transaction.client, args);
    return (super.query as Query).apply(this, args);
  }
}

/**
 * Runs `work` in one transaction on one connection of the pool: committed if it returns, rolled
 * back if it throws. Inside a request's own transaction it is part of that one, which commits
 * or rolls back as a whole.
 */
export async function withTransaction<T>(db: pg.Pool, work: (tx: pg.PoolClient) => Promise<T>): Promise<T> {
  const joined = openTransaction();
  if (joined) return work(joined.client);
  const tx = await db.connect();
  // A connection that cannot even roll back is discarded instead of going back to the pool.
  let broken: Error | undefined;
  try {
    await tx.query('BEGIN');
    const result = await work(tx);
    await tx.query('COMMIT');
    return result;
  } catch (error) {
    await tx.query('ROLLBACK').catch((rollbackError: Error) => {
      broken = rollbackError;
    });
    throw error;
  } finally {
    tx.release(broken);
  }
}

/** A pool, a connection or a transaction: anything that runs a statement. */
export type Queryable = Pick<pg.ClientBase, 'query'>;
