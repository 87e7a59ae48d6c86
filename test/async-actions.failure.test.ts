import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PUBLIC_URL, useTestApp } from './support/app.js';
import { ANY_REPORT, finishedAction } from './support/async-actions.js';
import { ANY_REQUEST_ID, ANY_TIMESTAMP, unique } from './support/customers.js';

// One retry, and batches of 10 rows, so a job that keeps failing gives up within seconds.
const test = useTestApp({ JOB_RETRIES: '1', JOB_BATCH_SIZE: '10' });
let admin: pg.Client;
beforeAll(async () => {
  admin = new pg.Client({ connectionString: test.databaseUrl });
  await admin.connect();
  // A customer the database refuses whatever is retried: a fault no row check can foresee.
  await admin.query(`CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'poisoned row'; END $$`);
  await admin.query(`CREATE TRIGGER refuse_poison BEFORE INSERT ON customers
    FOR EACH ROW WHEN (NEW.source_id LIKE 'poison-%') EXECUTE FUNCTION refuse_poison()`);
});
afterAll(async () => {
  await admin.query('DROP TRIGGER refuse_poison ON customers');
  await admin.end();
});

describe('an async action that cannot be carried out', () => {
  it('ends FAILED after its retries, saying exactly which rows were applied, and applies no later row', async () => {
    const prefix = unique('fine');
    const items = Array.from({ length: 25 }, (_, index) => ({
      source_id: index === 22 ? unique('poison') : `${prefix}-${index}`,
    }));
    const accepted = await test.api.post('/v1/customers/bulk/async', items).expect(202);
    const action = await finishedAction(test.api, accepted.body.async_action_id);
    expect(action).toEqual({
      id: accepted.body.async_action_id,
      type: 'CUSTOMERS.BULK_UPDATE',
      status: 'FAILED',
      operation_status: 'FAILED',
      created_at: ANY_TIMESTAMP,
      updated_at: ANY_TIMESTAMP,
      request_id: ANY_REQUEST_ID,
      progress: 80,
      processing_time: expect.any(Number),
      object: 'async_action',
      result: {
        message:
          'Processing failed repeatedly and was given up. The first 20 input row(s) were processed: 20 customer(s) written, 0 row(s) failed. No later row was applied.',
        done_count: 20,
        failed_count: 0,
        failed: [],
        errors: [],
        ...ANY_REPORT,
      },
    });
    // Its report lists the rows applied before it stopped, and no other.
    const report = await test.raw().get(action.result.reports[0].slice(PUBLIC_URL.length)).expect(200);
    expect(report.text.trim().split('\n')).toEqual([
      'row,source_id,status,error_key,error_message',
      ...items.slice(0, 20).map((item, index) => `${index + 1},${item.source_id},created,,`),
    ]);
    const { rows } = await admin.query('SELECT count(*)::int AS customers FROM customers WHERE source_id LIKE $1', [
      `${prefix}-%`,
    ]);
    // Rows 21 to 25 share the poisoned batch: none of them was applied.
    expect(rows).toEqual([{ customers: 20 }]);
  });
});
