import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { useTestApp } from './support/app.js';
import { ANY_REQUEST_ID, customerNotFound, errorBody, invalidPayload, invalidQuery, unique } from './support/customers.js';
import { executedPlan, recordingStore } from './support/plans.js';
import { expectReferenceSchema } from './support/reference.js';

const test = useTestApp();
const { api } = test;

type Activity = { id: string; type: string; created_at: string; group_id: string; data: { customer: Record<string, unknown> } };
type ActivityPage = { data: Activity[]; has_more: boolean; more_starting_after?: string };

const ANY_EVENT_ID = expect.stringMatching(/^evcus_[0-9a-f]{18}$/);

const activity = async (key: string, query = '') => {
  const response = await api.get(`/v1/customers/${encodeURIComponent(key)}/activity?${query}`).expect(200);
  expectReferenceSchema('CustomersActivityListResponseBody', response.body);
  return response.body as ActivityPage;
};

/** The activity event a write answered with `response` must have recorded. */
const eventOf = (type: string, customer: Record<string, unknown>, response: { headers: Record<string, string> }, at: string) => ({
  id: ANY_EVENT_ID,
  type,
  data: { customer },
  created_at: at,
  group_id: response.headers['x-request-id'],
});

/** Writes events for a customer straight into the table, all at one millisecond unless told. */
async function seedEvents(customerId: string, count: number, at = '2020-01-01T00:00:00.000Z') {
  await test.db.query(
    `INSERT INTO customer_events (id, customer_id, type, data, group_id, created_at)
     SELECT 'evcus_' || $4 || lpad(to_hex(n), 12, '0'), $1, 'customer.updated', jsonb_build_object('customer', to_jsonb(c)),
            'v-seed', $2::timestamptz
     FROM generate_series(1, $3) AS n, (SELECT id, source_id, name, description, email, phone, NULL AS birthday,
            NULL AS birthdate, address, metadata, '2020-01-01T00:00:00.000Z' AS created_at, NULL AS updated_at
            FROM customers WHERE id = $1) AS c`,
    [customerId, at, count, randomBytes(3).toString('hex')],
  );
}

describe('GET /v1/customers/:customerId/activity', () => {
  it('records an event for each create, update and delete, in the same change, with the request id', async () => {
    const sourceId = unique('history');
    const created = await api.post('/v1/customers', { source_id: sourceId, name: 'Ann' }).expect(200);
    const upserted = await api.post('/v1/customers', { source_id: sourceId, email: 'ann@example.com' }).expect(200);
    const byId = await api.post('/v1/customers', { id: created.body.id, phone: '+1' }).expect(200);
    const put = await api.put(`/v1/customers/${sourceId}`, { name: 'Anna' }).expect(200);
    const before = (await api.get(`/v1/customers/${sourceId}`).expect(200)).body;
    const deleted = await api.delete(`/v1/customers/${sourceId}`).expect(204);

    const page = await activity(created.body.id, 'limit=10');
    expect(page).toEqual({
      object: 'list',
      data_ref: 'data',
      data: [
        eventOf('customer.deleted', before, deleted, expect.any(String)),
        eventOf('customer.updated', put.body, put, put.body.updated_at),
        eventOf('customer.updated', byId.body, byId, byId.body.updated_at),
        eventOf('customer.updated', upserted.body, upserted, upserted.body.updated_at),
        eventOf('customer.created', created.body, created, created.body.created_at),
      ],
      has_more: false,
    });
    expect(page.data[0]!.created_at >= put.body.updated_at).toBe(true);
  });

  it('is found by source_id while the customer lives, and by id only once deleted', async () => {
    const sourceId = unique('owner');
    const created = (await api.post('/v1/customers', { source_id: sourceId }).expect(200)).body;
    expect((await activity(sourceId)).data).toHaveLength(1);
    await api.delete(`/v1/customers/${created.id}`).expect(204);
    expect((await activity(created.id)).data.map((event) => event.type)).toEqual(['customer.deleted', 'customer.created']);
    const response = await api.get(`/v1/customers/${sourceId}/activity`).expect(404);
    expect(response.body).toEqual(customerNotFound(sourceId));
  });

  it('orders newest first by default and oldest first with order=created_at', async () => {
    const created = (await api.post('/v1/customers', {}).expect(200)).body;
    for (const name of ['a', 'b', 'c']) await api.put(`/v1/customers/${created.id}`, { name }).expect(200);
    const newest = (await activity(created.id)).data.map((event) => event.data.customer.name ?? null);
    const oldest = (await activity(created.id, 'order=created_at')).data.map((event) => event.data.customer.name ?? null);
    expect(newest).toEqual(['c', 'b', 'a', null]);
    expect(oldest).toEqual([null, 'a', 'b', 'c']);
  });

  it('filters by type and by an inclusive start_date and end_date', async () => {
    const created = (await api.post('/v1/customers', {}).expect(200)).body;
    await api.put(`/v1/customers/${created.id}`, { name: 'one' }).expect(200);
    await api.put(`/v1/customers/${created.id}`, { name: 'two' }).expect(200);
    const all = (await activity(created.id, 'order=created_at')).data;
    const [first, second, third] = all;
    expect((await activity(created.id, 'type=customer.updated')).data.map((e) => e.id)).toEqual([third!.id, second!.id]);
    expect((await activity(created.id, 'type=customer.deleted')).data).toEqual([]);
    expect((await activity(created.id, `order=created_at&start_date=${second!.created_at}`)).data.map((e) => e.id)).toEqual(
      all.filter((event) => event.created_at >= second!.created_at).map((event) => event.id),
    );
    expect((await activity(created.id, `order=created_at&end_date=${first!.created_at}`)).data.map((e) => e.id)).toEqual(
      all.filter((event) => event.created_at <= first!.created_at).map((event) => event.id),
    );
  });

  it('finds no events for a campaign filter: this service keeps no campaigns', async () => {
    const created = (await api.post('/v1/customers', {}).expect(200)).body;
    expect(await activity(created.id, 'campaign_type=PROMOTION')).toEqual({
      object: 'list',
      data_ref: 'data',
      data: [],
      has_more: false,
    });
  });

  it('filters by category: every event here is an ACTION (a change a request made), none an EFFECT', async () => {
    const created = (await api.post('/v1/customers', {}).expect(200)).body;
    await api.put(`/v1/customers/${created.id}`, { name: 'Renamed' }).expect(200);
    await api.delete(`/v1/customers/${created.id}`).expect(204);
    const all = (await activity(created.id)).data;
    expect(all.map((event) => event.type)).toEqual(['customer.deleted', 'customer.updated', 'customer.created']);
    expect(await activity(created.id, 'category=ACTION')).toEqual({
      object: 'list',
      data_ref: 'data',
      data: all,
      has_more: false,
    });
    expect(await activity(created.id, 'category=EFFECT')).toEqual({
      object: 'list',
      data_ref: 'data',
      data: [],
      has_more: false,
    });
    expect((await activity(created.id, 'category=ACTION&type=customer.updated')).data).toEqual([all[1]]);
  });

  it.each([
    ['-created_at', 'limit=7'],
    ['created_at', 'limit=7&order=created_at'],
  ])('pages through every event exactly once by more_starting_after, order %s, ties included', async (_order, query) => {
    const created = (await api.post('/v1/customers', {}).expect(200)).body;
    await seedEvents(created.id, 30);
    for (let index = 0; index < 5; index += 1) await api.put(`/v1/customers/${created.id}`, { metadata: { index } }).expect(200);
    const seen: string[] = [];
    let page = await activity(created.id, query);
    seen.push(...page.data.map((event) => event.id));
    while (page.has_more) {
      expect(page.more_starting_after).toBe(page.data.at(-1)!.id);
      page = await activity(created.id, `${query}&starting_after_id=${page.more_starting_after}`);
      seen.push(...page.data.map((event) => event.id));
    }
    expect(page.more_starting_after).toBeUndefined();
    expect(seen).toHaveLength(36);
    expect(new Set(seen).size).toBe(36);
  });

  it('answers 404 for an unknown customer', async () => {
    const response = await api.get('/v1/customers/cust_nobody/activity').expect(404);
    expect(response.body).toEqual(customerNotFound('cust_nobody'));
  });

  it.each([
    ['limit=0', 'Property .limit must be >= 1'],
    ['order=type', 'Property .order must be one of: created_at, -created_at'],
    ['type=created', 'Property .type must match pattern "^customer(\\.[a-z_]+)+$"'],
    ['start_date=2021-02-30', 'Property .start_date cannot be recognized as a ISO-8601 compliant date'],
    ['end_date=soon', 'Property .end_date cannot be recognized as a ISO-8601 compliant date'],
    ['category=action', 'Property .category must be one of: ACTION, EFFECT'],
    ['category=ACTION&category=EFFECT', 'Property .category must be string'],
    [
      'starting_after_id=evcus_000000000000000000',
      'Property .starting_after_id does not name an event of this customer: evcus_000000000000000000',
    ],
  ])('rejects %s naming the parameter', async (query, details) => {
    const created = (await api.post('/v1/customers', {}).expect(200)).body;
    const response = await api.get(`/v1/customers/${created.id}/activity?${query}`).expect(400);
    expect(response.body).toEqual(invalidQuery(details));
  });

  it("rejects another customer's event as a cursor", async () => {
    const one = (await api.post('/v1/customers', {}).expect(200)).body;
    const other = (await api.post('/v1/customers', {}).expect(200)).body;
    const foreign = (await activity(other.id)).data[0]!.id;
    const response = await api.get(`/v1/customers/${one.id}/activity?starting_after_id=${foreign}`).expect(400);
    expect(response.body).toEqual(
      invalidQuery(`Property .starting_after_id does not name an event of this customer: ${foreign}`),
    );
  });

  it('keeps paging cheap at 100,000 events: the deep page is an index range, no sort', async () => {
    const created = (await api.post('/v1/customers', {}).expect(200)).body;
    const tag = randomBytes(3).toString('hex');
    await test.db.query(
      `INSERT INTO customer_events (id, customer_id, type, data, group_id, created_at)
       SELECT 'evcus_' || $2 || lpad(to_hex(n), 12, '0'), $1, 'customer.updated', '{"customer":{}}', 'v-seed',
              timestamptz '2019-01-01' + n * interval '1 second'
       FROM generate_series(1, 100000) AS n`,
      [created.id, tag],
    );
    await test.db.query('ANALYZE customer_events');
    const { store, statements } = recordingStore(test.db);
    const middle = `evcus_${tag}${(50000).toString(16).padStart(12, '0')}`;
    const page = await store.listEvents({
      customerId: created.id,
      order: '-created_at',
      limit: 100,
      after: { createdAt: (await store.eventTime(created.id, middle))!, id: middle },
    });
    expect(page.events).toHaveLength(100);
    const plan = await executedPlan(test.db, statements.at(-1)!);
    expect(plan).toContain('"Index Name":"customer_events_customer_id_created_at_id_idx"');
    expect(plan).not.toContain('"Node Type":"Sort"');
    const scan = JSON.parse(plan)[0].Plan.Plans[0];
    expect(scan['Actual Rows']).toBeLessThanOrEqual(101);
  });
});

describe('GET /v1/customers/:customerId/activities (deprecated)', () => {
  it('lists events with the total, paging by starting_after or starting_after_id', async () => {
    const created = (await api.post('/v1/customers', {}).expect(200)).body;
    for (const name of ['a', 'b', 'c', 'd']) await api.put(`/v1/customers/${created.id}`, { name }).expect(200);
    const first = await api.get(`/v1/customers/${created.id}/activities?limit=2`).expect(200);
    expectReferenceSchema('CustomersActivitiesListResponseBody', first.body);
    expect(first.body).toMatchObject({ object: 'list', data_ref: 'data', total: 5 });
    expect(first.body.data.map((event: Activity) => event.data.customer.name)).toEqual(['d', 'c']);
    const byId = await api
      .get(`/v1/customers/${created.id}/activities?limit=2&starting_after_id=${first.body.data[1].id}`)
      .expect(200);
    expect(byId.body.data.map((event: Activity) => event.data.customer.name)).toEqual(['b', 'a']);
    expect(byId.body.total).toBe(5);
    const byTime = await api.get(`/v1/customers/${created.id}/activities?order=created_at&starting_after=2000-01-01`).expect(200);
    expect(byTime.body.data).toHaveLength(5);
  });

  it('rejects starting_after together with starting_after_id', async () => {
    const created = (await api.post('/v1/customers', {}).expect(200)).body;
    const response = await api
      .get(`/v1/customers/${created.id}/activities?starting_after=2020-01-01&starting_after_id=x`)
      .expect(400);
    expect(response.body).toEqual(invalidQuery('Property .starting_after cannot be combined with starting_after_id'));
  });
});

describe('activity is written in the same transaction as the change', () => {
  it('a change whose event cannot be written is not made', async () => {
    const created = (await api.post('/v1/customers', { name: 'Before' }).expect(200)).body;
    await test.db.query(`ALTER TABLE customer_events ADD CONSTRAINT refuse_updates CHECK (type <> 'customer.updated') NOT VALID`);
    try {
      await api.put(`/v1/customers/${created.id}`, { name: 'After' }).expect(500);
      await api.post('/v1/customers', { id: created.id, name: 'After' }).expect(500);
    } finally {
      await test.db.query('ALTER TABLE customer_events DROP CONSTRAINT refuse_updates');
    }
    expect((await api.get(`/v1/customers/${created.id}`).expect(200)).body).toEqual(created);
    expect((await activity(created.id)).data.map((event) => event.type)).toEqual(['customer.created']);
  });

  it('a change that fails leaves no event', async () => {
    const created = (await api.post('/v1/customers', { name: 'Kept' }).expect(200)).body;
    await test.db.query(`ALTER TABLE customers ADD CONSTRAINT refuse_name CHECK (name <> 'Refused') NOT VALID`);
    try {
      await api.put(`/v1/customers/${created.id}`, { name: 'Refused' }).expect(500);
      await api.post('/v1/customers', { name: 'Refused' }).expect(500);
    } finally {
      await test.db.query('ALTER TABLE customers DROP CONSTRAINT refuse_name');
    }
    expect((await activity(created.id)).data.map((event) => event.type)).toEqual(['customer.created']);
    const { rows } = await test.db.query(
      `SELECT count(*)::int AS count FROM customer_events WHERE data -> 'customer' ->> 'name' = 'Refused'`,
    );
    expect(rows).toEqual([{ count: 0 }]);
  });
});

describe('POST /v1/customers/:customerId/permanent-deletion', () => {
  /** Every row of every table in the database, as text, that mentions the value. */
  async function mentions(value: string): Promise<string[]> {
    const { rows: tables } = await test.db.query<{ name: string }>(
      `SELECT format('%I.%I', table_schema, table_name) AS name FROM information_schema.tables
       WHERE table_type = 'BASE TABLE' AND table_schema NOT IN ('pg_catalog', 'information_schema')`,
    );
    const found: string[] = [];
    for (const { name } of tables) {
      const { rows } = await test.db.query(`SELECT t::text AS row FROM ${name} AS t WHERE strpos(t::text, $1) > 0`, [value]);
      found.push(...rows.map((row) => `${name}: ${row.row}`));
    }
    return found;
  }

  it('erases the customer and all its activity, answering the real counts', async () => {
    const sourceId = unique('erase');
    const email = `${sourceId}@example.com`;
    const created = (await api.post('/v1/customers', { source_id: sourceId, email, name: 'Erased Person' }).expect(200)).body;
    await api.put(`/v1/customers/${sourceId}`, { phone: '+1 555' }).expect(200);
    await seedEvents(created.id, 2000);
    expect(await mentions(created.id)).not.toEqual([]);

    const response = await api.post(`/v1/customers/${sourceId}/permanent-deletion`, {}).expect(200);
    expect(response.body).toEqual({
      id: expect.stringMatching(/^del_[A-Za-z0-9]{24}$/),
      created_at: expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/),
      related_object_id: created.id,
      related_object: 'customer',
      status: 'DONE',
      data_json: { events: 2002, customer_events: 2002, daily_events: 0, segments: 0, orders: 0, order_events: 0, customer: 1 },
      object: 'pernament_deletion',
    });
    expectReferenceSchema('CustomersPermanentDeletionCreateResponseBody', response.body);

    for (const value of [created.id, sourceId, email, 'Erased Person']) expect(await mentions(value)).toEqual([]);
    await api.get(`/v1/customers/${created.id}`).expect(404);
    await api.get(`/v1/customers/${created.id}/activity`).expect(404);
  });

  it('erases a deleted customer by its id, without a body', async () => {
    const sourceId = unique('erase-deleted');
    const created = (await api.post('/v1/customers', { source_id: sourceId }).expect(200)).body;
    await api.delete(`/v1/customers/${sourceId}`).expect(204);
    const response = await api.post(`/v1/customers/${created.id}/permanent-deletion`).expect(200);
    expect(response.body.data_json).toMatchObject({ events: 2, customer_events: 2, customer: 1 });
    expect(await mentions(created.id)).toEqual([]);
    expect(await mentions(sourceId)).toEqual([]);
  });

  it('answers 404 for an unknown customer and for one already erased', async () => {
    const created = (await api.post('/v1/customers', {}).expect(200)).body;
    await api.post(`/v1/customers/${created.id}/permanent-deletion`, {}).expect(200);
    const response = await api.post(`/v1/customers/${created.id}/permanent-deletion`, {}).expect(404);
    expect(response.body).toEqual(customerNotFound(created.id));
  });

  it('rejects a body with fields', async () => {
    const created = (await api.post('/v1/customers', {}).expect(200)).body;
    const response = await api.post(`/v1/customers/${created.id}/permanent-deletion`, { force: true }).expect(400);
    expect(response.body).toEqual(invalidPayload('Property .force is not allowed'));
    await api.get(`/v1/customers/${created.id}`).expect(200);
  });

  it('answers errors with the request id', async () => {
    const response = await api.post('/v1/customers/cust_missing/permanent-deletion').expect(404);
    expect(response.body).toEqual({
      ...errorBody(404, 'not_found', 'Resource not found'),
      ...customerNotFound('cust_missing'),
      request_id: ANY_REQUEST_ID,
    });
  });
});
