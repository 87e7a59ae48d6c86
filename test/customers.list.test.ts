import qs from 'qs';
import { beforeAll, describe, expect, it } from 'vitest';
import { useTestApp } from './support/app.js';
import { customerBody, invalidQuery, unique } from './support/customers.js';
import { executedPlan, recordingStore } from './support/plans.js';
import { expectReferenceSchema } from './support/reference.js';
import { liveCustomerIds, seedCustomers } from './support/seed.js';

const test = useTestApp();
const { api } = test;

const list = async (query: Record<string, unknown>) => {
  const response = await api.get(`/v1/customers?${qs.stringify(query)}`).expect(200);
  expectReferenceSchema('CustomersListResponseBody', response.body);
  return response.body as { customers: Array<{ id: string; created_at: string }>; total: number; has_more: boolean };
};
const ids = (body: { customers: Array<{ id: string }> }) => body.customers.map((customer) => customer.id);

/** One customer per millisecond from `start`, all named `name`. */
const seedSeries = (name: string, count: number, start = Date.UTC(2021, 0, 1)) =>
  seedCustomers(
    test.db,
    Array.from({ length: count }, (_, index) => ({ name, created_at: new Date(start + index).toISOString() })),
  );

describe('GET /v1/customers', () => {
  it('answers the contract list shape: newest first, 10 by default, total and has_more', async () => {
    const name = unique('shape');
    const created = [];
    for (let index = 0; index < 12; index += 1) {
      created.push((await api.post('/v1/customers', { name, metadata: { index } }).expect(200)).body);
    }
    const response = await api.get(`/v1/customers?name=${name}`).expect(200);
    expect(response.body).toEqual({
      object: 'list',
      data_ref: 'customers',
      customers: created.slice(2).reverse(),
      total: 12,
      has_more: true,
    });
    expectReferenceSchema('CustomersListResponseBody', response.body);
    expect(await list({ name, page: 2 })).toEqual({
      object: 'list',
      data_ref: 'customers',
      customers: created.slice(0, 2).reverse(),
      total: 12,
      has_more: false,
    });
  });

  it('answers an empty page past the end with the true total', async () => {
    const name = unique('past-end');
    await seedSeries(name, 3);
    expect(await list({ name, page: 5 })).toEqual({
      object: 'list',
      data_ref: 'customers',
      customers: [],
      total: 3,
      has_more: false,
    });
  });

  it('filters by exact email, name and address.city, counting only matches', async () => {
    const tag = unique('filter');
    const email = `${tag}@example.com`;
    const city = `City ${tag}`;
    const a = (await api.post('/v1/customers', { email, name: tag, address: { city } }).expect(200)).body;
    const b = (await api.post('/v1/customers', { email, address: { city: `${city} Heights` } }).expect(200)).body;
    const c = (await api.post('/v1/customers', { email: `other.${email}`, name: tag, address: { city } }).expect(200)).body;

    expect(await list({ email })).toMatchObject({ customers: [b, a], total: 2, has_more: false });
    expect(await list({ name: tag })).toMatchObject({ customers: [c, a], total: 2 });
    expect(await list({ city })).toMatchObject({ customers: [c, a], total: 2 });
    expect(await list({ city, email, name: tag })).toMatchObject({ customers: [a], total: 1 });
    expect(await list({ email: email.toUpperCase() })).toMatchObject({ customers: [], total: 0 });
  });

  it('filters by created_at and updated_at ranges, exclusive, accepting dates and times without milliseconds', async () => {
    const name = unique('range');
    const [jan, feb, mar] = await seedCustomers(test.db, [
      { name, created_at: '2020-01-15T10:00:00.000Z', updated_at: '2020-06-01T00:00:00.000Z' },
      { name, created_at: '2020-02-15T10:00:00.000Z' },
      { name, created_at: '2020-03-15T10:00:00.000Z', updated_at: '2020-04-01T00:00:00.000Z' },
    ]);
    expect(ids(await list({ name, created_at: { before: '2020-02-15T10:00:00.000Z' } }))).toEqual([jan]);
    expect(ids(await list({ name, created_at: { after: '2020-02-15T10:00:00Z' } }))).toEqual([mar]);
    expect(ids(await list({ name, created_at: { after: '2020-01-31', before: '2020-03-01' } }))).toEqual([feb]);
    expect(ids(await list({ name, created_at: { before: '2020-02-15T11:00:00+01:00' } }))).toEqual([jan]);
    // Never-updated customers match no updated_at filter.
    expect(ids(await list({ name, updated_at: { after: '2020-01-01' } }))).toEqual([mar, jan]);
    expect(ids(await list({ name, updated_at: { before: '2020-05-01' } }))).toEqual([mar]);
    expect((await list({ name, updated_at: { after: '2020-05-01' } })).total).toBe(1);
  });

  it('accepts bracketed query parameters written literally or percent-encoded', async () => {
    const name = unique('brackets');
    const [early] = await seedCustomers(test.db, [
      { name, created_at: '2019-01-01T00:00:00.000Z' },
      { name, created_at: '2019-06-01T00:00:00.000Z' },
    ]);
    const literal = await api.get(`/v1/customers?name=${name}&created_at[before]=2019-03-01T00:00:00Z`).expect(200);
    const encoded = await api.get(`/v1/customers?name=${name}&created_at%5Bbefore%5D=2019-03-01T00%3A00%3A00Z`).expect(200);
    expect(ids(literal.body)).toEqual([early]);
    expect(encoded.body).toEqual(literal.body);
  });

  it('orders by each field both ways, ties broken by id, missing values last', async () => {
    const name = unique('order');
    const seeded = [
      { name, source_id: `${name}-b`, created_at: '2018-01-02T00:00:00.000Z', updated_at: '2018-03-01T00:00:00.000Z' },
      { name, source_id: null, created_at: '2018-01-01T00:00:00.000Z', updated_at: null },
      { name, source_id: `${name}-a`, created_at: '2018-01-03T00:00:00.000Z', updated_at: '2018-02-01T00:00:00.000Z' },
      { name, source_id: `${name}-c`, created_at: '2018-01-04T00:00:00.000Z', updated_at: null },
    ];
    const [b, none, a, c] = await seedCustomers(test.db, seeded);
    const byIdAsc = [c!, none!].sort();
    expect(ids(await list({ name, order: 'created_at' }))).toEqual([none, b, a, c]);
    expect(ids(await list({ name, order: '-created_at' }))).toEqual([c, a, b, none]);
    expect(ids(await list({ name, order: 'updated_at' }))).toEqual([a, b, ...byIdAsc]);
    expect(ids(await list({ name, order: '-updated_at' }))).toEqual([b, a, ...byIdAsc.reverse()]);
    expect(ids(await list({ name, order: 'source_id' }))).toEqual([a, b, c, none]);
    expect(ids(await list({ name, order: '-source_id' }))).toEqual([c, b, a, none]);
  });

  it('reads starting_after as an exclusive created_at cursor in the order asked', async () => {
    const name = unique('cursor');
    const [first, second, third] = await seedSeries(name, 3, Date.UTC(2017, 0, 1));
    const middle = '2017-01-01T00:00:00.001Z';
    expect(await list({ name, starting_after: middle })).toMatchObject({ total: 3, has_more: false });
    expect(ids(await list({ name, starting_after: middle }))).toEqual([first]);
    expect(ids(await list({ name, starting_after: middle, order: '-created_at' }))).toEqual([first]);
    expect(ids(await list({ name, starting_after: middle, order: 'created_at' }))).toEqual([third]);
    expect(ids(await list({ name, starting_after: '2017-01-01T00:00:00.002Z', limit: 1 }))).toEqual([second]);
    expect(await list({ name, starting_after: '2017-01-01T00:00:00.002Z', limit: 1 })).toMatchObject({ has_more: true });
  });

  it('counts every live customer in an unfiltered total', async () => {
    const body = await list({});
    expect(body.total).toBe((await liveCustomerIds(test.db)).length);
  });

  describe('walking the whole list visits every customer exactly once, ties included', () => {
    beforeAll(async () => {
      // Three bulk-import-like groups of 15 sharing one millisecond each, between single customers.
      const at = (ms: number) => new Date(Date.UTC(2016, 0, 1) + ms).toISOString();
      await seedCustomers(test.db, [
        ...Array.from({ length: 15 }, () => ({ created_at: at(0) })),
        { created_at: at(1) },
        ...Array.from({ length: 15 }, () => ({ created_at: at(2) })),
        { created_at: at(3) },
        ...Array.from({ length: 15 }, () => ({ created_at: at(4) })),
      ]);
      await api.delete(`/v1/customers/${(await api.post('/v1/customers', {}).expect(200)).body.id}`).expect(204);
    });

    it.each(['-created_at', 'created_at', 'updated_at', '-source_id'])('by page, order %s', async (order) => {
      const seen: string[] = [];
      let hasMore = true;
      for (let page = 1; hasMore; page += 1) {
        const body = await list({ order, limit: 7, page });
        seen.push(...ids(body));
        hasMore = body.has_more;
      }
      expect(seen.length).toBe(new Set(seen).size);
      expect(seen.sort()).toEqual((await liveCustomerIds(test.db)).sort());
    });

    it.each([
      ['-created_at', '2200-01-01T00:00:00Z'],
      ['created_at', '1970-01-01T00:00:00Z'],
    ])('by starting_after moved by created_at alone, order %s', async (order, start) => {
      const seen: string[] = [];
      let cursor = start;
      for (let hasMore = true; hasMore;) {
        const body = await list({ order, limit: 10, starting_after: cursor });
        seen.push(...ids(body));
        hasMore = body.has_more;
        cursor = body.customers.at(-1)?.created_at ?? cursor;
      }
      expect(seen.length).toBe(new Set(seen).size);
      expect(seen.sort()).toEqual((await liveCustomerIds(test.db)).sort());
    });
  });

  it('returns customers in the full customer shape', async () => {
    const name = unique('full');
    const created = (await api.post('/v1/customers', { name, email: 'full@example.com', address: { city: 'Rome' } }).expect(200))
      .body;
    expect((await list({ name })).customers).toEqual([
      customerBody(
        { name, email: 'full@example.com', address: { city: 'Rome' } },
        { id: created.id, createdAt: created.created_at },
      ),
    ]);
  });

  describe('reads each page through an index, never sorting the table', () => {
    beforeAll(async () => {
      const at = (index: number) => new Date(Date.UTC(2015, 0, 1) + index * 1000).toISOString();
      await seedCustomers(
        test.db,
        Array.from({ length: 5000 }, (_, index) => ({
          created_at: at(index),
          updated_at: index % 2 ? at(index + 10) : null,
          source_id: `plan-${index}`,
          email: `plan${index % 50}@example.com`,
          name: `Plan ${index % 50}`,
          city: `City ${index % 50}`,
        })),
      );
      await test.db.query('ANALYZE customers');
    });

    it.each([
      ['the first page', { order: '-created_at' }, 'customers_created_at_live_idx'],
      ['oldest first', { order: 'created_at' }, 'customers_created_at_live_idx'],
      ['by -updated_at', { order: '-updated_at' }, 'customers_updated_at_desc_live_idx'],
      ['by updated_at', { order: 'updated_at' }, 'customers_updated_at_asc_live_idx'],
      ['by source_id', { order: 'source_id' }, 'customers_source_id_asc_live_idx'],
      ['by -source_id', { order: '-source_id' }, 'customers_source_id_desc_live_idx'],
      ['filtered by email', { order: '-created_at', filters: { email: 'plan7@example.com' } }, 'customers_email_live_idx'],
      ['filtered by name', { order: '-created_at', filters: { name: 'Plan 7' } }, 'customers_name_live_idx'],
      ['filtered by city', { order: '-created_at', filters: { city: 'City 7' } }, 'customers_city_live_idx'],
      ['deep by cursor', { order: '-created_at', cursor: '2015-01-01T00:40:00.000Z' }, 'customers_created_at_live_idx'],
    ] as const)('%s', async (_case, query: { order: string; filters?: object; cursor?: string }, index) => {
      const { order, filters = {}, cursor } = query;
      const { store, statements } = recordingStore(test.db);
      await store.list({
        filters,
        order: order as '-created_at',
        limit: 10,
        page: cursor ? { kind: 'cursor', startingAfter: cursor } : { kind: 'offset', offset: 0 },
      });
      const page = statements.find((statement) => /order by/i.test(statement.text))!;
      const plan = await executedPlan(test.db, page);
      expect(plan).toContain(`"Index Name":"${index}"`);
      expect(plan).not.toContain('"Node Type":"Sort"');
    });
  });

  describe('rejects bad query values naming the parameter', () => {
    it.each([
      ['limit=0', 'Property .limit must be >= 1'],
      ['limit=101', 'Property .limit must be <= 100'],
      ['limit=abc', 'Property .limit must be integer'],
      ['limit=1.5', 'Property .limit must be integer'],
      ['limit=1&limit=2', 'Property .limit must be integer'],
      ['page=0', 'Property .page must be >= 1'],
      ['page=100', 'Property .page must be <= 99'],
      ['order=name', 'Property .order must be one of: created_at, -created_at, updated_at, -updated_at, source_id, -source_id'],
      ['created_at[before]=2021-02-30', 'Property .created_at[before] cannot be recognized as a ISO-8601 compliant date'],
      ['created_at%5Bafter%5D=yesterday', 'Property .created_at[after] cannot be recognized as a ISO-8601 compliant date'],
      [
        'updated_at[before]=2021-01-01T25:00:00Z',
        'Property .updated_at[before] cannot be recognized as a ISO-8601 compliant date',
      ],
      ['updated_at[after]=2021-01-01T10:00:00', 'Property .updated_at[after] cannot be recognized as a ISO-8601 compliant date'],
      ['starting_after=0000-01-01T00:00:00Z', 'Property .starting_after cannot be recognized as a ISO-8601 compliant date'],
      ['email=', 'Property .email must NOT have fewer than 1 characters'],
      ['segment_id=', 'Property .segment_id must NOT have fewer than 1 characters'],
      ['segment=seg_1', 'Property .segment is not allowed'],
      ['created_at[on]=2021-01-01', 'Property .created_at[on] is not allowed'],
      [
        'starting_after=2021-01-01&order=updated_at',
        'Property .starting_after is a created_at cursor: use it with order created_at or -created_at',
      ],
      ['starting_after=2021-01-01&page=2', 'Property .page cannot be combined with starting_after'],
    ])('%s', async (query, details) => {
      const response = await api.get(`/v1/customers?${query}`).expect(400);
      expect(response.body).toEqual(invalidQuery(details));
      expectReferenceSchema('Error', response.body);
    });
  });
});
