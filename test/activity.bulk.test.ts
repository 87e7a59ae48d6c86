import { describe, expect, it } from 'vitest';
import { APP_ID, APP_SECRET, useTestApp } from './support/app.js';
import { finishedAction } from './support/async-actions.js';
import { unique } from './support/customers.js';

// No retries: a batch that cannot commit ends its action FAILED at once.
const test = useTestApp({ JOB_RETRIES: '0' });
const { api } = test;

type Activity = { id: string; type: string; created_at: string; group_id: string; data: { customer: Record<string, unknown> } };

const activity = async (key: string): Promise<Activity[]> =>
  (await api.get(`/v1/customers/${encodeURIComponent(key)}/activity?order=created_at`).expect(200)).body.data;

async function queue(path: string, body: unknown) {
  const accepted = await api.post(path, body).expect(202);
  const action = await finishedAction(api, accepted.body.async_action_id);
  return { requestId: accepted.headers['x-request-id'] as string, action };
}

describe('activity of bulk updates, metadata updates and imports', () => {
  it('records customer.created and customer.updated for each customer a bulk update writes, grouped by its request', async () => {
    const existing = unique('bulk-existing');
    const created = (await api.post('/v1/customers', { source_id: existing, name: 'Before' }).expect(200)).body;
    const fresh = unique('bulk-fresh');
    const { requestId, action } = await queue('/v1/customers/bulk/async', [
      { source_id: existing, name: 'After' },
      { source_id: fresh, email: 'fresh@example.com' },
      { source_id: unique('bulk-bad'), email: 'not an email' },
    ]);
    expect(action.result).toMatchObject({ done_count: 2, failed_count: 1 });

    const now = (await api.get(`/v1/customers/${existing}`).expect(200)).body;
    expect(
      (await activity(existing)).map(({ type, group_id, data, created_at }) => ({ type, group_id, data, created_at })),
    ).toEqual([
      { type: 'customer.created', group_id: expect.any(String), data: { customer: created }, created_at: created.created_at },
      { type: 'customer.updated', group_id: requestId, data: { customer: now }, created_at: now.updated_at },
    ]);
    const freshCustomer = (await api.get(`/v1/customers/${fresh}`).expect(200)).body;
    expect(await activity(fresh)).toEqual([
      {
        id: expect.stringMatching(/^evcus_[0-9a-f]{18}$/),
        type: 'customer.created',
        group_id: requestId,
        data: { customer: freshCustomer },
        created_at: freshCustomer.created_at,
      },
    ]);
  });

  it('records the merge of a metadata update and the customers it creates', async () => {
    const existing = unique('meta-existing');
    await api.post('/v1/customers', { source_id: existing, metadata: { a: 1 } }).expect(200);
    const fresh = unique('meta-fresh');
    const { requestId } = await queue('/v1/customers/metadata/async', { source_ids: [existing, fresh], metadata: { b: 2 } });
    const [, merged] = await activity(existing);
    expect(merged).toMatchObject({
      type: 'customer.updated',
      group_id: requestId,
      data: { customer: { metadata: { a: 1, b: 2 } } },
    });
    expect((await activity(fresh)).map((event) => [event.type, event.group_id])).toEqual([['customer.created', requestId]]);
  });

  it('records each row a CSV import writes', async () => {
    const sourceId = unique('csv');
    const accepted = await test
      .raw()
      .post('/v1/customers/importCSV')
      .set({ 'X-App-Id': APP_ID, 'X-App-Token': APP_SECRET })
      .attach('file', Buffer.from(`Source_id,Name,Tier\n${sourceId},Imported,3\n`), 'customers.csv')
      .expect(202);
    await finishedAction(api, accepted.body.async_action_id);
    const [event] = await activity(sourceId);
    expect(event).toMatchObject({
      type: 'customer.created',
      group_id: accepted.headers['x-request-id'],
      data: { customer: { source_id: sourceId, name: 'Imported', metadata: { Tier: 3 } } },
    });
  });

  it('writes no event for a batch that does not commit', async () => {
    const sourceId = unique('refused');
    await test.db.query(
      `ALTER TABLE customer_events ADD CONSTRAINT refuse_bulk CHECK (data -> 'customer' ->> 'name' <> 'Refused in bulk') NOT VALID`,
    );
    try {
      const accepted = await api.post('/v1/customers/bulk/async', [{ source_id: sourceId, name: 'Refused in bulk' }]).expect(202);
      const action = await finishedAction(api, accepted.body.async_action_id);
      expect(action.status).toBe('FAILED');
    } finally {
      await test.db.query('ALTER TABLE customer_events DROP CONSTRAINT refuse_bulk');
    }
    await api.get(`/v1/customers/${sourceId}`).expect(404);
    const { rows } = await test.db.query('SELECT count(*)::int AS count FROM customers WHERE source_id = $1', [sourceId]);
    expect(rows).toEqual([{ count: 0 }]);
  });

  it('leaves nothing of a permanently deleted customer in any table, async action data included', async () => {
    const sourceId = unique('erase-after-bulk');
    const email = `${sourceId}@example.com`;
    const { action } = await queue('/v1/customers/bulk/async', [
      { source_id: sourceId, email },
      { source_id: sourceId, birthdate: '2021-02-30' },
    ]);
    expect(action.result).toMatchObject({ done_count: 1, failed_count: 1, failed: [{ source_id: sourceId, row: 2 }] });
    const customer = (await api.get(`/v1/customers/${sourceId}`).expect(200)).body;
    await api.post(`/v1/customers/${sourceId}/permanent-deletion`).expect(200);

    const { rows: tables } = await test.db.query<{ name: string }>(
      `SELECT format('%I.%I', table_schema, table_name) AS name FROM information_schema.tables
       WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')`,
    );
    expect(tables.map((table) => table.name)).toContain('pgboss.job');
    for (const value of [customer.id, sourceId, email]) {
      for (const { name } of tables) {
        const { rows } = await test.db.query(`SELECT t::text AS row FROM ${name} AS t WHERE strpos(t::text, $1) > 0`, [value]);
        expect(rows, `${value} in ${name}`).toEqual([]);
      }
    }
  });
});
