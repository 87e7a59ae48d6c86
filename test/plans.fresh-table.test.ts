import { beforeAll, describe, expect, it } from 'vitest';
import type { CustomerListRequest } from '../src/customers/repository/index.js';
import { useTestApp } from './support/app.js';
import { unique } from './support/customers.js';
import { executedPlan, recordingStore } from './support/plans.js';

const test = useTestApp();

/** Customers created one request at a time, as an application signing its users up would. */
const CREATED = 2000;
const CONCURRENT_REQUESTS = 8;

beforeAll(async () => {
  // Nothing measures the table here: no autovacuum, and no bulk write that would analyze it.
  await test.db.query('ALTER TABLE customers SET (autovacuum_enabled = false)');
  let next = 0;
  const client = async () => {
    while (next < CREATED) {
      const index = (next += 1);
      // Like an application's sign-ups: most customers give no address.
      const body =
        index % 10 === 0 ? { source_id: unique('fresh'), address: { city: 'Lisbon' } } : { source_id: unique('fresh') };
      await test.api.post('/v1/customers', body).expect(200);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENT_REQUESTS }, client));
});

/** The executed plan of a list page, as the repository writes it. */
async function pagePlan(request: CustomerListRequest): Promise<string> {
  const { store, statements } = recordingStore(test.db);
  await store.list(request);
  return executedPlan(
    test.db,
    statements.find((statement) => /order by/i.test(statement.text))!,
  );
}

describe('a list page on a table that only grew through POST /v1/customers, never measured', () => {
  it('is a table PostgreSQL has not measured', async () => {
    const { rows } = await test.db.query<{ reltuples: number }>(
      `SELECT reltuples FROM pg_class WHERE oid = 'customers'::regclass`,
    );
    expect(rows[0]!.reltuples).toBe(-1);
  });

  it.each([
    ['the first page, newest first', '-created_at'],
    ['the first page, oldest first', 'created_at'],
  ] as const)('reads %s from the created_at index without sorting', async (_name, order) => {
    const plan = await pagePlan({ filters: {}, order, limit: 10, page: { kind: 'offset', offset: 0 } });
    expect(plan).toContain('"Index Name":"customers_created_at_live_idx"');
    expect(plan).not.toContain('"Node Type":"Sort"');
  });

  it('reads a page by cursor, from the middle of the table, from the created_at index without sorting', async () => {
    const { rows } = await test.db.query<{ created_at: Date }>(
      `SELECT created_at FROM customers ORDER BY created_at OFFSET ${CREATED / 2} LIMIT 1`,
    );
    const startingAfter = rows[0]!.created_at.toISOString();
    const plan = await pagePlan({ filters: {}, order: '-created_at', limit: 10, page: { kind: 'cursor', startingAfter } });
    expect(plan).toContain('"Index Name":"customers_created_at_live_idx"');
    expect(plan).not.toContain('"Node Type":"Sort"');
  });

  // Oldest source_id first, the unique key's index reads source_ids in order as well as the ordering
  // index does (an incremental sort only breaks ties among equal source_ids, of which there are
  // none): either is O(page), and PGlite's planner has been seen choosing the unique key.
  it.each([
    ['updated_at', ['customers_updated_at_asc_live_idx']],
    ['-updated_at', ['customers_updated_at_desc_live_idx']],
    ['source_id', ['customers_source_id_asc_live_idx', 'customers_source_id_live_key']],
    ['-source_id', ['customers_source_id_desc_live_idx']],
  ] as const)('reads the first page by %s from an index in that order without sorting', async (order, indexes) => {
    const plan = await pagePlan({ filters: {}, order, limit: 10, page: { kind: 'offset', offset: 0 } });
    const used = [...plan.matchAll(/"Index Name":"(\w+)"/g)].map((match) => match[1]);
    expect(used).toHaveLength(1);
    expect(indexes).toContain(used[0]);
    expect(plan).not.toContain('"Node Type":"Sort"');
    expect(plan).not.toContain('"Node Type":"Seq Scan"');
  });

  it('reads a page filtered by city through the city index, never the whole table', async () => {
    // PostgreSQL guesses that few customers share a city it has not measured, so it may sort the
    // matches of the city instead of reading them in order: the cost grows with the city, not the table.
    const plan = await pagePlan({
      filters: { city: 'Lisbon' },
      order: '-created_at',
      limit: 10,
      page: { kind: 'offset', offset: 0 },
    });
    expect(plan).toContain('"Index Name":"customers_city_live_idx"');
    expect(plan).not.toContain('"Node Type":"Seq Scan"');
  });
});
