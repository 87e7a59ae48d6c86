import type pg from 'pg';
import { createCustomerRepository } from '../../src/customers/repository/index.js';

export interface Statement {
  text: string;
  values: unknown[];
}

/**
 * A pool that records every statement sent through it, in order: on the pool itself and on the
 * connections it hands out (transactions).
 */
export function recordingPool(db: pg.Pool) {
  const statements: Statement[] = [];
  const record = (query: string | pg.QueryConfig, values?: unknown[]) =>
    // A named statement comes as text and values, a statement written for one call as a config.
    statements.push(
      typeof query === 'string' ? { text: query, values: values ?? [] } : { text: query.text, values: query.values ?? [] },
    );
  const pool = Object.create(db) as pg.Pool;
  pool.query = ((query: string | pg.QueryConfig, values?: unknown[]) => {
    record(query, values);
    return db.query(query, values);
  }) as pg.Pool['query'];
  pool.connect = (async () => {
    const client = await db.connect();
    const recorded = Object.create(client) as pg.PoolClient;
    recorded.query = ((query: string | pg.QueryConfig, values?: unknown[]) => {
      record(query, values);
      return client.query(query, values);
    }) as pg.PoolClient['query'];
    recorded.release = (error?: Error | boolean) => client.release(error);
    return recorded;
  }) as pg.Pool['connect'];
  return { pool, statements };
}

/** The real customer repository over a pool that records every statement it sends. */
export function recordingStore(db: pg.Pool) {
  const { pool, statements } = recordingPool(db);
  return { store: createCustomerRepository(pool), statements };
}

/** PostgreSQL's executed plan for a statement, as JSON text. */
export async function executedPlan(db: pg.Pool, statement: Statement): Promise<string> {
  const { rows } = await db.query(`EXPLAIN (ANALYZE, FORMAT JSON) ${statement.text}`, statement.values);
  return JSON.stringify(rows[0]['QUERY PLAN']);
}
