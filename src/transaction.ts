import type pg from 'pg';

/** Runs `work` in one transaction on one connection of the pool: committed if it returns, rolled back if it throws. */
export async function withTransaction<T>(db: pg.Pool, work: (tx: pg.PoolClient) => Promise<T>): Promise<T> {
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
