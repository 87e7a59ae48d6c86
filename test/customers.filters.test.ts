import fc from 'fast-check';
import qs from 'qs';
import { beforeAll, describe, expect, it } from 'vitest';
import { useTestApp } from './support/app.js';
import { sdkClient, type SdkClient } from './support/sdk.js';
import { invalidPayload, invalidQuery, unique } from './support/customers.js';

const test = useTestApp();
const { api } = test;

/** Every customer of one test carries its run's tag, so a filter ANDed with it sees only them. */
const runTag = () => unique('run');
const inRun = (run: string) => ({ 'metadata.run': { conditions: { $is: run } } });

/** Lists with a filter object sent as Voucherify's SDKs send it: bracket notation. */
const listBracketed = (filter: Record<string, unknown>, extra: Record<string, unknown> = {}) =>
  api.get(`/v1/customers?${qs.stringify({ filters: filter, limit: 100, ...extra })}`);

/** The source_ids a filter (ANDed with the run's tag) lists, in the list's order, checking `total` agrees. */
async function matching(run: string, filter: Record<string, unknown>): Promise<string[]> {
  const response = await listBracketed({ ...inRun(run), filters: [filter] }).expect(200);
  expect(response.body.total).toBe(response.body.customers.length);
  return (response.body.customers as Array<{ source_id: string }>).map((customer) => customer.source_id).sort();
}

async function people(run: string) {
  const make = async (name: string, fields: Record<string, unknown>) => {
    const sourceId = `${run}-${name}`;
    await api
      .post('/v1/customers', { source_id: sourceId, name, ...fields, metadata: { run, ...(fields.metadata as object) } })
      .expect(200);
    return sourceId;
  };
  return {
    ann: await make('Ann', {
      email: 'ann@example.com',
      phone: '+48 600 100 200',
      birthdate: '1990-05-01',
      address: { city: 'Warsaw', country: 'Poland' },
      metadata: { tier: 'gold', score: 950, vip: true, joined: '2021-03-04T10:00:00Z', nested: { level: 'a' } },
    }),
    bob: await make('Bob', {
      email: 'bob@sample.org',
      birthdate: '1985-12-24',
      address: { city: 'Boston' },
      metadata: { tier: 'silver', score: 400, vip: false, joined: '2019-01-01' },
    }),
    cid: await make('Cid', { metadata: { tier: 'gold', score: '950', nested: { level: 'b' } } }),
  };
}

describe('GET /v1/customers with filters', () => {
  it('compares text fields: $is, $is_not, $in, $not_in, $starts_with, $ends_with, $contains, $not_contain, $has_value, $is_unknown', async () => {
    const run = runTag();
    const { ann, bob, cid } = await people(run);
    expect(await matching(run, { email: { conditions: { $is: 'ann@example.com' } } })).toEqual([ann]);
    expect(await matching(run, { email: { conditions: { $is_not: 'ann@example.com' } } })).toEqual([bob, cid]);
    expect(await matching(run, { name: { conditions: { $in: ['Ann', 'Cid'] } } })).toEqual([ann, cid]);
    expect(await matching(run, { name: { conditions: { $not_in: ['Ann', 'Cid'] } } })).toEqual([bob]);
    expect(await matching(run, { email: { conditions: { $starts_with: 'bob@' } } })).toEqual([bob]);
    expect(await matching(run, { email: { conditions: { $ends_with: ['@example.com'] } } })).toEqual([ann]);
    expect(await matching(run, { phone: { conditions: { $contains: '600' } } })).toEqual([ann]);
    expect(await matching(run, { email: { conditions: { $not_contain: 'example' } } })).toEqual([bob, cid]);
    expect(await matching(run, { email: { conditions: { $has_value: true } } })).toEqual([ann, bob]);
    expect(await matching(run, { email: { conditions: { $is_unknown: true } } })).toEqual([cid]);
    expect(await matching(run, { city: { conditions: { $is: 'Boston' } } })).toEqual([bob]);
    expect(await matching(run, { 'address.country': { conditions: { $is: 'Poland' } } })).toEqual([ann]);
    expect(await matching(run, { source_id: { conditions: { $is: ann } } })).toEqual([ann]);
  });

  it('compares metadata by JSON type in a JSON filter, and bracket notation strings as either', async () => {
    const run = runTag();
    const { ann, bob, cid } = await people(run);
    const json = async (filter: Record<string, unknown>) => {
      const response = await api
        .get(`/v1/customers?limit=100&filters=${encodeURIComponent(JSON.stringify({ ...inRun(run), filters: [filter] }))}`)
        .expect(200);
      return (response.body.customers as Array<{ source_id: string }>).map((customer) => customer.source_id).sort();
    };
    expect(await json({ 'metadata.score': { conditions: { $is: 950 } } })).toEqual([ann]);
    expect(await json({ 'metadata.score': { conditions: { $is: '950' } } })).toEqual([cid]);
    expect(await json({ 'metadata.vip': { conditions: { $is: true } } })).toEqual([ann]);
    // Bracket notation has strings only: 950 stands for the number or the string.
    expect(await matching(run, { 'metadata.score': { conditions: { $is: '950' } } })).toEqual([ann, cid]);
    expect(await matching(run, { 'metadata.vip': { conditions: { $is: 'false' } } })).toEqual([bob]);
    expect(await matching(run, { 'metadata.tier': { conditions: { $in: ['gold', 'platinum'] } } })).toEqual([ann, cid]);
    expect(await matching(run, { 'metadata.nested.level': { conditions: { $is: 'b' } } })).toEqual([cid]);
    expect(await matching(run, { 'metadata.vip': { conditions: { $is_unknown: true } } })).toEqual([cid]);
  });

  it('compares numbers as numbers and dates as dates', async () => {
    const run = runTag();
    const { ann, bob } = await people(run);
    // Cid's score is the string "950": no number to compare.
    expect(await matching(run, { 'metadata.score': { conditions: { $more_than: 900 } } })).toEqual([ann]);
    expect(await matching(run, { 'metadata.score': { conditions: { $less_than_equal: '400' } } })).toEqual([bob]);
    expect(await matching(run, { 'metadata.joined': { conditions: { $after: '2020-01-01' } } })).toEqual([ann]);
    expect(await matching(run, { 'metadata.joined': { conditions: { $before: '2020-01-01T00:00:00+0000' } } })).toEqual([bob]);
    expect(await matching(run, { birthdate: { conditions: { $before: '1989-01-01' } } })).toEqual([bob]);
    expect(await matching(run, { birthdate: { conditions: { $is: '1990-05-01' } } })).toEqual([ann]);
  });

  it('compares creation times with moments, days and days relative to now', async () => {
    const run = runTag();
    const { ann, bob, cid } = await people(run);
    const everyone = [ann, bob, cid].sort();
    const created = (await api.get(`/v1/customers/${bob}`).expect(200)).body.created_at as string;
    const today = created.slice(0, 10);
    expect(await matching(run, { created_at: { conditions: { $is: today } } })).toEqual(everyone);
    expect(await matching(run, { created_at: { conditions: { $is: created } } })).toContain(bob);
    expect(await matching(run, { created_at: { conditions: { $after: created } } })).toEqual([cid]);
    expect(await matching(run, { created_at: { conditions: { $before: created } } })).toEqual([ann]);
    expect(await matching(run, { created_at: { conditions: { $is_days_ago: 0 } } })).toEqual(everyone);
    expect(await matching(run, { created_at: { conditions: { $less_than_ago: 1 } } })).toEqual(everyone);
    expect(await matching(run, { created_at: { conditions: { $more_than_ago: 1 } } })).toEqual([]);
    expect(await matching(run, { updated_at: { conditions: { $is_unknown: true } } })).toEqual(everyone);
  });

  it('applies the junction, a field’s own junction and nested filters', async () => {
    const run = runTag();
    const { ann, bob, cid } = await people(run);
    expect(
      await matching(run, {
        junction: 'or',
        email: { conditions: { $ends_with: '@sample.org' } },
        'metadata.nested.level': { conditions: { $is: 'b' } },
      }),
    ).toEqual([bob, cid]);
    expect(await matching(run, { name: { junction: 'or', conditions: { $is: 'Ann', $starts_with: 'C' } } })).toEqual([ann, cid]);
    expect(
      await matching(run, {
        'metadata.tier': { conditions: { $is: 'gold' } },
        filters: [{ junction: 'or', email: { conditions: { $has_value: true } }, name: { conditions: { $is: 'Nobody' } } }],
      }),
    ).toEqual([ann]);
  });

  it('keeps total and cursors as without a filter', async () => {
    const run = runTag();
    const created: string[] = [];
    for (let index = 0; index < 5; index += 1) {
      const sourceId = `${run}-${index}`;
      await api.post('/v1/customers', { source_id: sourceId, metadata: { run, index } }).expect(200);
      created.push(sourceId);
    }
    const filter = { ...inRun(run), 'metadata.index': { conditions: { $less_than: 4 } } };
    const first = await listBracketed(filter, { limit: 2, order: 'created_at' }).expect(200);
    expect(first.body).toMatchObject({ total: 4, has_more: true });
    const next = await listBracketed(filter, {
      limit: 2,
      order: 'created_at',
      starting_after: first.body.customers[1].created_at,
    }).expect(200);
    expect(
      [...first.body.customers, ...next.body.customers].map((customer: { source_id: string }) => customer.source_id),
    ).toEqual(created.slice(0, 4));
    expect(next.body.has_more).toBe(false);
  });

  it('treats values as values: SQL and patterns in them match only themselves', async () => {
    const run = runTag();
    const odd = [`'; DROP TABLE customers; --`, '%', '_', '.*', '\\', 'a$1'];
    for (const [index, name] of odd.entries()) {
      await api.post('/v1/customers', { source_id: `${run}-${index}`, name, metadata: { run } }).expect(200);
    }
    for (const [index, name] of odd.entries()) {
      expect(await matching(run, { name: { conditions: { $contains: name } } })).toEqual(
        odd.flatMap((other, otherIndex) => (other.includes(name) ? [`${run}-${otherIndex}`] : [])).sort(),
      );
      expect(await matching(run, { name: { conditions: { $is: name } } })).toEqual([`${run}-${index}`]);
    }
  });

  it('answers 400 naming the path of a bad filter', async () => {
    const bad = async (filter: unknown, details: string) => {
      for (const query of [qs.stringify({ filters: filter }), `filters=${encodeURIComponent(JSON.stringify(filter))}`]) {
        const response = await api.get(`/v1/customers?${query}`);
        expect({ status: response.status, body: response.body }).toEqual({ status: 400, body: invalidQuery(details) });
      }
    };
    await bad(
      { nickname: { conditions: { $is: 'x' } } },
      expect.stringMatching(/^Property \.filters\.nickname is not a field to filter by/),
    );
    await bad(
      { email: { conditions: { $more_than: 'x' } } },
      expect.stringMatching(/^Property \.filters\.email\.conditions\.\$more_than is not an operator for this field: use \$is/),
    );
    await bad({ email: { conditions: { $regex: 'x' } } }, expect.stringMatching(/\.conditions\.\$regex is not an operator/));
    await bad({ 'metadata.': { conditions: { $is: 'x' } } }, 'Property .filters.metadata. names an empty metadata key');
    await bad({ 'metadata.a..b': { conditions: { $is: 'x' } } }, 'Property .filters.metadata.a..b names an empty metadata key');
    await bad(
      { 'metadata.score': { conditions: { $more_than: 'many' } } },
      'Property .filters.metadata.score.conditions.$more_than must be a number',
    );
    await bad(
      { created_at: { conditions: { $after: 'yesterday' } } },
      'Property .filters.created_at.conditions.$after must be an ISO 8601 date-time or a date',
    );
    await bad(
      { created_at: { conditions: { $is_days_ago: -1 } } },
      'Property .filters.created_at.conditions.$is_days_ago must be a whole number of days, 0 to 36500',
    );
    await bad({ junction: 'xor', email: { conditions: { $is: 'x' } } }, 'Property .filters.junction must be and or or');
    await api
      .get(`/v1/customers?filters=${encodeURIComponent('{"email":{"conditions":{}}}')}`)
      .expect(400)
      .expect(({ body }) =>
        expect(body).toEqual(invalidQuery('Property .filters.email.conditions must be an object of at least one operator')),
      );
    await bad(
      { email: { conditions: { $is: 'x' }, extra: '1' } },
      'Property .filters.email.extra is not allowed: a field takes conditions and junction',
    );
    await bad(
      { email: { conditions: { $in: Array.from({ length: 101 }, (_, index) => `v${index}`) } } },
      'Property .filters.email.conditions.$in must be an array of 1 to 100 values',
    );
    const conditions = Object.fromEntries(
      Array.from({ length: 51 }, (_, index) => [`metadata.k${index}`, { conditions: { $is: 'x' } }]),
    );
    await bad(conditions, 'Property .filters.metadata.k50.conditions.$is is one condition too many: at most 50');
    let deep: Record<string, unknown> = { email: { conditions: { $is: 'x' } } };
    for (let level = 0; level < 6; level += 1) deep = { filters: [deep] };
    await bad(
      deep,
      'Property .filters.filters[0].filters[0].filters[0].filters[0].filters[0].filters[0] nests filters more than 5 levels deep',
    );
  });

  it('answers 400 to JSON that is no filter, and to both notations at once', async () => {
    await api
      .get('/v1/customers?filters=%7Bnot-json')
      .expect(400)
      .expect(({ body }) =>
        expect(body).toEqual(
          invalidQuery(
            'Property .filters must be a JSON object, or given in bracket notation (filters[email][conditions][$is]=…)',
          ),
        ),
      );
    await api
      .get(`/v1/customers?filters=${encodeURIComponent('[1]')}`)
      .expect(400)
      .expect(({ body }) => expect(body).toEqual(invalidQuery('Property .filters must be an object')));
    await api
      .get(`/v1/customers?filters=${encodeURIComponent('{"email":{"conditions":{"$is":"x"}}}')}&filters[name][conditions][$is]=y`)
      .expect(400)
      .expect(({ body }) =>
        expect(body).toEqual(invalidQuery('Property .filters is given twice: as JSON and in bracket notation')),
      );
  });

  it('never answers 500, whatever the filter (fuzz)', async () => {
    const value = fc.oneof(
      fc.string({ maxLength: 20 }),
      fc.integer(),
      fc.boolean(),
      fc.constant(null),
      fc.array(fc.string({ maxLength: 5 }), { maxLength: 3 }),
    );
    const field = fc.oneof(
      fc.constantFrom('email', 'name', 'created_at', 'birthdate', 'city', 'address.city', 'metadata.a', 'metadata.a.b', 'id'),
      fc.string({ maxLength: 12 }),
    );
    const operator = fc.oneof(
      fc.constantFrom('$is', '$in', '$contains', '$more_than', '$after', '$is_days_ago', '$has_value'),
      fc.string({ maxLength: 8 }),
    );
    const filter = fc.dictionary(field, fc.record({ conditions: fc.dictionary(operator, value, { minKeys: 1, maxKeys: 2 }) }), {
      minKeys: 1,
      maxKeys: 3,
    });
    await fc.assert(
      fc.asyncProperty(filter, fc.boolean(), async (candidate, asJson) => {
        const query = asJson ? `filters=${encodeURIComponent(JSON.stringify(candidate))}` : qs.stringify({ filters: candidate });
        const response = await api.get(`/v1/customers?${query}`);
        expect([200, 400]).toContain(response.status);
        if (response.status === 400) expect(response.body.key).toBe('invalid_query_params');
      }),
      { numRuns: 150 },
    );
  });
});

describe('filters through the official SDK', () => {
  let client: SdkClient;
  beforeAll(async () => {
    client = await sdkClient(test);
  });

  it('lists customers by a filter object passed to customers.list', async () => {
    const run = runTag();
    const { ann } = await people(run);
    const list = await client.customers.list({
      filters: {
        junction: 'and',
        ...inRun(run),
        'metadata.tier': { conditions: { $is: ['gold'] } },
        email: { conditions: { $has_value: true } },
      },
    } as Parameters<typeof client.customers.list>[0]);
    expect(list.customers.map((customer) => customer.source_id)).toEqual([ann]);
    expect(list.total).toBe(1);
  });

  it('surfaces a bad filter as the SDK surfaces API errors', async () => {
    await expect(
      client.customers.list({ filters: { nickname: { conditions: { $is: 'x' } } } } as Parameters<
        typeof client.customers.list
      >[0]),
    ).rejects.toMatchObject({ code: 400, key: 'invalid_query_params' });
  });
});

describe('POST bodies with a filter', () => {
  it('answer invalid_payload naming the path', async () => {
    const response = await api
      .post('/v1/segments', { name: 'Bad', type: 'auto-update', filter: { nickname: { conditions: { $is: 'x' } } } })
      .expect(400);
    expect(response.body).toEqual(
      invalidPayload(expect.stringMatching(/^Property \.filter\.nickname is not a field to filter by/)),
    );
  });
});
