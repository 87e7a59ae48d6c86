import qs from 'qs';
import { afterEach, describe, expect, it } from 'vitest';
import { useTestApp } from './support/app.js';
import { sdkClient } from './support/sdk.js';
import { finishedAction } from './support/async-actions.js';
import { ANY_TIMESTAMP, errorBody, invalidPayload, invalidQuery, unique } from './support/customers.js';
import { expectReferenceSchema } from './support/reference.js';

// One project, and one customer metadata schema per database: the tests here take turns.
const test = useTestApp({ PROJECT_ID: 'proj_test' });
const { api } = test;
const BASE = '/management/v1/projects/proj_test/metadata-schemas';
const ANY_SCHEMA_ID = expect.stringMatching(/^ms_[0-9A-Za-z]{24}$/);

const DEFINITIONS = {
  tier: { type: 'string', optional: true, array: false, eq: ['gold', 'silver'] },
  score: { type: 'number', optional: true, array: false, gte: 0, lte: 1000 },
  joined: { type: 'date', optional: true, array: false },
  tags: { type: 'string', optional: true, array: true, max_length: 5 },
  plan: { type: 'string', optional: false, array: false, min_length: 2 },
};

async function defineSchema(body: Record<string, unknown> = {}) {
  const response = await api.post(BASE, { related_object: 'customer', properties: DEFINITIONS, ...body }).expect(200);
  return response.body as { id: string };
}

afterEach(async () => {
  const { body } = await api.get(BASE).expect(200);
  for (const schema of body.data as Array<{ id: string }>) await api.delete(`${BASE}/${schema.id}`).expect(204);
});

describe('the management API for metadata schemas', () => {
  it('creates, reads, lists, updates and deletes the customer metadata schema', async () => {
    const created = await api
      .post(BASE, { related_object: 'customer', allow_defined_only: false, properties: DEFINITIONS })
      .expect(200);
    expect(created.body).toEqual({
      id: ANY_SCHEMA_ID,
      related_object: 'customer',
      properties: DEFINITIONS,
      allow_defined_only: false,
      created_at: ANY_TIMESTAMP,
      updated_at: null,
      object: 'metadata_schema',
    });
    expectReferenceSchema('ManagementProjectsMetadataSchemasCreateResponseBody', created.body, 'management-metadata-schemas');
    const { id } = created.body;
    expect((await api.get(`${BASE}/${id}`).expect(200)).body).toEqual(created.body);
    const list = await api.get(BASE).expect(200);
    expect(list.body).toEqual({ object: 'list', data_ref: 'data', data: [created.body], total: 1 });
    expectReferenceSchema('ManagementProjectsMetadataSchemasListResponseBody', list.body, 'management-metadata-schemas');

    const lang = { type: 'string', optional: true, array: false };
    const updated = await api.put(`${BASE}/${id}`, { allow_defined_only: true, properties: { lang } }).expect(200);
    expect(updated.body).toEqual({
      ...created.body,
      allow_defined_only: true,
      properties: { ...DEFINITIONS, lang },
      updated_at: ANY_TIMESTAMP,
    });
    await api.delete(`${BASE}/${id}`).expect(204);
    const gone = await api.get(`${BASE}/${id}`).expect(404);
    expect(gone.body).toEqual(
      errorBody(404, 'not_found', 'Resource not found', {
        details: `Cannot find metadata_schema with id ${id}`,
        resource_id: id,
        resource_type: 'metadata_schema',
      }),
    );
  });

  it('answers 409 to a second customer schema, and 404 to another project', async () => {
    const { id } = await defineSchema();
    const again = await api.post(BASE, { related_object: 'customer', properties: {} }).expect(409);
    expect(again.body).toEqual(
      errorBody(409, 'duplicate_found', 'Duplicated resource found', {
        details: `The customer metadata schema exists: update ${id} instead`,
        resource_id: id,
        resource_type: 'metadata_schema',
      }),
    );
    const other = await api.get('/management/v1/projects/other/metadata-schemas').expect(404);
    expect(other.body).toEqual(
      errorBody(404, 'not_found', 'Resource not found', {
        details: 'Cannot find project with id other',
        resource_id: 'other',
        resource_type: 'project',
      }),
    );
    // Behind the same keys.
    await test.raw().get(BASE).expect(401);
  });

  it('answers 400 to definitions that do not fit', async () => {
    const bad = async (body: unknown, details: string) => {
      const response = await api.post(BASE, body).expect(400);
      expect(response.body).toEqual(invalidPayload(details));
    };
    await bad(
      { related_object: 'voucher', properties: {} },
      "Property .related_object must be customer: this service keeps customers' metadata schema only",
    );
    await bad(
      { related_object: 'customer', properties: { n: { type: 'number', optional: true, array: false, min_length: 1 } } },
      'Property .properties.n.min_length is for string definitions only',
    );
    await bad(
      { related_object: 'customer', properties: { n: { type: 'geopoint', optional: true, array: false } } },
      'Property .properties.n.type must be one of: string, number, boolean, date, datetime, object',
    );
    await bad(
      { related_object: 'customer', properties: { s: { type: 'string', optional: true, array: false, eq: ['a', 1] } } },
      'Property .properties.s.eq must list string values only',
    );
    const { id } = await defineSchema();
    const change = await api
      .put(`${BASE}/${id}`, { properties: { score: { type: 'string', optional: true, array: false } } })
      .expect(400);
    expect(change.body).toEqual(
      invalidPayload('Property .properties.score.type cannot change from number: delete the definition and define the key anew'),
    );
  });
});

describe('the client API for metadata schemas', () => {
  it('answers the schemas in the client shape, by the official SDK too', async () => {
    await defineSchema();
    const list = await api.get('/v1/metadata-schemas').expect(200);
    expectReferenceSchema('MetadataSchemasListResponseBody', list.body, 'metadata-schemas');
    const customer = await api.get('/v1/metadata-schemas/customer').expect(200);
    expectReferenceSchema('MetadataSchemasGetResponseBody', customer.body, 'metadata-schemas');
    expect(customer.body.properties.tags).toEqual({ type: 'string', optional: true, array: true, maxLength: 5 });
    expect(list.body).toMatchObject({ object: 'list', data_ref: 'schemas', schemas: [customer.body], total: 1 });
    await api.get('/v1/metadata-schemas/voucher').expect(404);

    const client = await sdkClient(test);
    expect(await client.metadataSchemas.get('customer')).toEqual(customer.body);
    expect((await client.metadataSchemas.list()).schemas).toEqual([customer.body]);
  });
});

describe('customer writes under a metadata schema', () => {
  it('refuses single creates and updates that break it, naming the key and the rule', async () => {
    await defineSchema({ allow_defined_only: true });
    const sourceId = unique('schema');
    const post = (metadata: Record<string, unknown>) => api.post('/v1/customers', { source_id: sourceId, metadata });
    const refused = async (metadata: Record<string, unknown>, details: string) => {
      const response = await post(metadata).expect(400);
      expect(response.body).toEqual(invalidPayload(details));
    };
    await refused(
      { plan: 'pro', tier: 'bronze' },
      'Property .metadata.tier must be one of: gold, silver (customer metadata schema)',
    );
    await refused({ plan: 'pro', score: 'high' }, 'Property .metadata.score must be a number (customer metadata schema)');
    await refused({ plan: 'pro', score: 1001 }, 'Property .metadata.score must be at most 1000 (customer metadata schema)');
    await refused(
      { plan: 'pro', joined: '2021-02-30' },
      'Property .metadata.joined must be a date (YYYY-MM-DD) (customer metadata schema)',
    );
    await refused(
      { plan: 'pro', tags: ['ok', 'too long'] },
      'Property .metadata.tags[1] must have at most 5 characters (customer metadata schema)',
    );
    await refused({ plan: 'p' }, 'Property .metadata.plan must have at least 2 characters (customer metadata schema)');
    await refused({ tier: 'gold' }, 'Property .metadata.plan is required by the customer metadata schema');
    await refused(
      { plan: 'pro', nickname: 'Bob' },
      'Property .metadata.nickname is not defined in the customer metadata schema, which allows defined keys only',
    );
    // A create without an id or source_id must carry the required keys too.
    expect((await api.post('/v1/customers', { name: 'No metadata' }).expect(400)).body).toEqual(
      invalidPayload('Property .metadata.plan is required by the customer metadata schema'),
    );

    const created = await post({ plan: 'pro', tier: 'gold', score: 10, joined: '2021-03-04', tags: ['a'] }).expect(200);
    // An update without metadata leaves it, and its check, alone; one with metadata replaces it whole.
    await api.put(`/v1/customers/${created.body.id}`, { name: 'Renamed' }).expect(200);
    const update = await api.put(`/v1/customers/${created.body.id}`, { metadata: { tier: 'gold' } }).expect(400);
    expect(update.body).toEqual(invalidPayload('Property .metadata.plan is required by the customer metadata schema'));
  });

  it('fails the rows of bulk updates, metadata updates and CSV imports that break it, and applies the others', async () => {
    await defineSchema();
    const [good, bad] = [unique('good'), unique('bad')];
    const bulk = await api
      .post('/v1/customers/bulk/async', [
        { source_id: good, metadata: { plan: 'pro', tier: 'gold' } },
        { source_id: bad, metadata: { plan: 'pro', tier: 'bronze' } },
      ])
      .expect(202);
    const bulkAction = await finishedAction(api, bulk.body.async_action_id);
    expect(bulkAction.result.failed).toEqual([
      { source_id: bad, row: 2, reason: 'Property .metadata.tier must be one of: gold, silver (customer metadata schema)' },
    ]);
    await api.get(`/v1/customers/${good}`).expect(200);
    await api.get(`/v1/customers/${bad}`).expect(404);

    const merge = await api
      .post('/v1/customers/metadata/async', { source_ids: [good, unique('new')], metadata: { score: 5 } })
      .expect(202);
    const mergeAction = await finishedAction(api, merge.body.async_action_id);
    // The existing customer has its plan; a new one would not.
    expect(mergeAction.result.done_count).toBe(1);
    expect(mergeAction.result.failed).toEqual([
      {
        source_id: expect.stringMatching(/^new-/),
        row: 2,
        reason: 'Property .metadata.plan is required by the customer metadata schema',
      },
    ]);

    const csvGood = unique('csv-good');
    const csv = await api
      .post('/v1/customers/importCSV')
      .attach('file', Buffer.from(`source_id,plan,score\n${csvGood},pro,7\n${unique('csv-bad')},pro,-1\n`), 'customers.csv')
      .expect(202);
    const csvAction = await finishedAction(api, csv.body.async_action_id);
    expect(csvAction.result.failed).toEqual([
      {
        source_id: expect.stringMatching(/^csv-bad-/),
        row: 2,
        reason: 'Property .metadata.score must be at least 0 (customer metadata schema)',
      },
    ]);
    expect((await api.get(`/v1/customers/${csvGood}`).expect(200)).body.metadata).toEqual({ plan: 'pro', score: 7 });
  });
});

describe('filters under a metadata schema', () => {
  it('compare declared keys by their type, and take only the operators of that type', async () => {
    const run = unique('typed');
    // Stored before the schema: a number and a string that look alike.
    const make = async (name: string, metadata: Record<string, unknown>) =>
      (await api.post('/v1/customers', { source_id: `${run}-${name}`, metadata: { run, plan: 'pro', ...metadata } }).expect(200))
        .body.source_id as string;
    const ann = await make('ann', { score: 950, joined: '2021-03-04', tags: ['a', 'b'] });
    const bob = await make('bob', { score: '950', joined: '2019-01-01', tags: ['c'] });
    await defineSchema({ properties: { ...DEFINITIONS, run: { type: 'string', optional: true, array: false } } });

    const matching = async (filter: Record<string, unknown>) => {
      const query = qs.stringify({ filters: { 'metadata.run': { conditions: { $is: run } }, filters: [filter] } });
      const response = await api.get(`/v1/customers?${query}`).expect(200);
      return (response.body.customers as Array<{ source_id: string }>).map((customer) => customer.source_id).sort();
    };
    // Declared a number: 950 in bracket notation is the number only.
    expect(await matching({ 'metadata.score': { conditions: { $is: '950' } } })).toEqual([ann]);
    expect(await matching({ 'metadata.joined': { conditions: { $after: '2020-01-01' } } })).toEqual([ann]);
    expect(await matching({ 'metadata.joined': { conditions: { $is: '2019-01-01' } } })).toEqual([bob]);
    // Declared an array: $is finds the value among the elements.
    expect(await matching({ 'metadata.tags': { conditions: { $in: ['b', 'c'] } } })).toEqual([ann, bob]);

    const refused = async (filter: Record<string, unknown>, details: string) => {
      const response = await api.get(`/v1/customers?${qs.stringify({ filters: filter })}`).expect(400);
      expect(response.body).toEqual(invalidQuery(details));
    };
    await refused(
      { 'metadata.tier': { conditions: { $more_than: 5 } } },
      'Property .filters.metadata.tier.conditions.$more_than is not an operator for this field: use $is, $is_not, $in, $not_in, $has_value, $is_unknown, $starts_with, $ends_with, $contains, $not_contain',
    );
    await refused(
      { 'metadata.score': { conditions: { $is: 'high' } } },
      'Property .filters.metadata.score.conditions.$is must be a number',
    );
  });
});
