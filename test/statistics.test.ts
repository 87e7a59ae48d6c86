import { beforeAll, describe, expect, it } from 'vitest';
import { APP_ID, APP_SECRET, useTestApp } from './support/app.js';
import { finishedAction } from './support/async-actions.js';
import { unique } from './support/customers.js';
import { executedPlan, recordingStore } from './support/plans.js';

const test = useTestApp();

beforeAll(async () => {
  // Only the service measures the table here: autovacuum could otherwise do it at any moment.
  await test.db.query('ALTER TABLE customers SET (autovacuum_enabled = false)');
});

/** The executed plan of the first page of the list, as the store writes it. */
async function firstPagePlan(): Promise<string> {
  const { store, statements } = recordingStore(test.db);
  await store.list({ filters: {}, order: '-created_at', limit: 10, page: { kind: 'offset', offset: 0 } });
  return executedPlan(
    test.db,
    statements.find((statement) => /order by/i.test(statement.text))!,
  );
}

const measuredTuples = async () =>
  (await test.db.query<{ reltuples: number }>(`SELECT reltuples FROM pg_class WHERE oid = 'customers'::regclass`)).rows[0]!
    .reltuples;

describe('the customers table after a bulk write', () => {
  it('is measured before the action is DONE, so the first page reads the created_at index, not every customer', async () => {
    // A table the planner has never measured: it takes nearly every row for a deleted one.
    expect(await measuredTuples()).toBe(-1);
    const rows = Array.from({ length: 3000 }, (_, index) => `${unique('stats')},Customer ${index},City ${index % 7}`);
    const response = await test
      .raw()
      .post('/v1/customers/importCSV')
      .set({ 'X-App-Id': APP_ID, 'X-App-Token': APP_SECRET })
      .attach('file', Buffer.from(`Source_id,Name,Address_city\n${rows.join('\n')}\n`), 'customers.csv')
      .expect(202);
    expect(await finishedAction(test.api, response.body.async_action_id)).toMatchObject({ status: 'DONE' });

    expect(await measuredTuples()).toBe(3000);
    const plan = await firstPagePlan();
    expect(plan).toContain('"Index Name":"customers_created_at_live_idx"');
    expect(plan).not.toContain('"Node Type":"Sort"');
  });

  it('is not measured again for a bulk write of a small share of it', async () => {
    // Customers of its own, measured by the test itself: it stands without the test before.
    const seeded = await test.api
      .post(
        '/v1/customers/bulk/async',
        Array.from({ length: 200 }, () => ({ source_id: unique('stats-seed') })),
      )
      .expect(202);
    await finishedAction(test.api, seeded.body.async_action_id);
    await test.db.query('ANALYZE customers');
    const measured = await measuredTuples();
    expect(measured).toBeGreaterThanOrEqual(200);
    const response = await test.api.post('/v1/customers/bulk/async', [{ source_id: unique('stats-small') }]).expect(202);
    expect(await finishedAction(test.api, response.body.async_action_id)).toMatchObject({ status: 'DONE' });
    expect(await measuredTuples()).toBe(measured);
  });
});
