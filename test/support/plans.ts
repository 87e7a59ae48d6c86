import type pg from 'pg';
import { createCustomerRepository } from '../../src/customers/repository/index.js';

export interface Statement {
  text: string;
  values: unknown[];
}

/** The real customer repository over a pool that records every statement it sends. */
export function recordingStore(db: pg.Pool) {
  const statements: Statement[] = [];
  const recording = Object.create(db) as pg.Pool;
  recording.query = ((query: string | pg.QueryConfig, values?: unknown[]) => {
    // A named statement comes as text and values, a statement written for one call as a config.
    statements.push(
      typeof query === 'string' ? { text: query, values: values ?? [] } : { text: query.text, values: query.values ?? [] },
    );
    return db.query(query, values);
  }) as pg.Pool['query'];
  return { store: createCustomerRepository(recording), statements };
}

/** PostgreSQL's executed plan for a statement, as JSON text. */
export async function executedPlan(db: pg.Pool, statement: Statement): Promise<string> {
  const { rows } = await db.query(`EXPLAIN (ANALYZE, FORMAT JSON) ${statement.text}`, statement.values);
  return JSON.stringify(rows[0]['QUERY PLAN']);
}
