import qs from 'qs';
import { describe, expect, it } from 'vitest';
import { readCustomerFilter } from '../src/customers/filters.js';
import type { MetadataSchemaRules } from '../src/customers/metadata-rules.js';
import type { CustomerListRequest } from '../src/customers/repository/index.js';
import { filterMatch } from '../src/customers/repository/filters.js';
import { listedIn } from '../src/customers/repository/segments.js';
import { useTestApp } from './support/app.js';
import { unique } from './support/customers.js';
import { executedPlan, recordingStore } from './support/plans.js';

/**
 * Lists read from the tables that index them (migration index_declared_metadata): a filter on a
 * key the metadata schema declares, through customer_metadata_values and its counts, and a static
 * segment, through segment_members. Each answer is checked against the same filter written so
 * that it reads the customers table instead.
 */
const test = useTestApp({ PROJECT_ID: 'proj_test' });
const { api } = test;

const SCHEMAS = '/management/v1/projects/proj_test/metadata-schemas';

let schemaId: string | undefined;

/** Declares `properties` (merged into the customer schema, which is made on first use). */
async function declare(properties: Record<string, unknown>) {
  if (schemaId === undefined) {
    const created = await api.post(SCHEMAS, { related_object: 'customer', properties }).expect(200);
    schemaId = created.body.id as string;
  } else {
    await api.put(`${SCHEMAS}/${schemaId}`, { properties }).expect(200);
  }
}

const number = { type: 'number', optional: true, array: false };
const string = { type: 'string', optional: true, array: false };

async function customer(run: string, name: string, metadata: Record<string, unknown>) {
  const response = await api.post('/v1/customers', { source_id: `${run}-${name}`, name, metadata }).expect(200);
  return response.body as { id: string; source_id: string; created_at: string };
}

async function list(filter: Record<string, unknown>, extra: Record<string, unknown> = {}) {
  const response = await api.get(`/v1/customers?${qs.stringify({ filters: filter, limit: 100, order: 'created_at', ...extra })}`);
  expect(response.status).toBe(200);
  return {
    names: (response.body.customers as Array<{ name: string }>).map(({ name }) => name),
    total: response.body.total as number,
  };
}

/** The same filter with a second condition that always holds: no index answers it, the customers table does. */
const unindexed = (key: string, conditions: Record<string, unknown>) => ({
  junction: 'and',
  [`metadata.${key}`]: { conditions },
  filters: [{ name: { conditions: { $has_value: true } } }],
});

/** Lists one condition on a declared key, and checks it against the customers table's answer. */
async function listIndexed(key: string, conditions: Record<string, unknown>) {
  const indexed = await list({ [`metadata.${key}`]: { conditions } });
  expect(indexed).toEqual(await list(unindexed(key, conditions)));
  return indexed;
}

describe('GET /v1/customers filtered by a declared metadata key', () => {
  it('answers the customers and the exact total of an equality or a comparison, through every write', async () => {
    const run = unique('indexed');
    const score = `score_${run.replace(/\W/g, '_')}`;
    const tier = `tier_${run.replace(/\W/g, '_')}`;
    // Written before the schema declares the keys: the declaration indexes them.
    const ann = await customer(run, 'ann', { [score]: 5, [tier]: 'gold' });
    await customer(run, 'bob', { [score]: '950', [tier]: 'silver' });
    await declare({ [score]: number, [tier]: string });
    const cid = await customer(run, 'cid', { [score]: 950, [tier]: 'gold' });
    await customer(run, 'dan', { [score]: 950.0 });

    expect(await listIndexed(score, { $is: 950 })).toEqual({ names: ['cid', 'dan'], total: 2 });
    expect(await listIndexed(score, { $in: [5, 950] })).toEqual({ names: ['ann', 'cid', 'dan'], total: 3 });
    expect(await listIndexed(score, { $more_than: 5 })).toEqual({ names: ['cid', 'dan'], total: 2 });
    expect(await listIndexed(score, { $less_than_equal: 5 })).toEqual({ names: ['ann'], total: 1 });
    expect(await listIndexed(tier, { $is: 'gold' })).toEqual({ names: ['ann', 'cid'], total: 2 });

    // An update moves the customer from one value to another; a delete takes it out.
    await api.put(`/v1/customers/${ann.id}`, { metadata: { [score]: 951, [tier]: 'silver' } }).expect(200);
    await api.delete(`/v1/customers/${cid.id}`).expect(204);
    expect(await listIndexed(score, { $is: 950 })).toEqual({ names: ['dan'], total: 1 });
    expect(await listIndexed(score, { $more_than: 900 })).toEqual({ names: ['ann', 'dan'], total: 2 });
    expect(await listIndexed(tier, { $is: 'gold' })).toEqual({ names: [], total: 0 });
    expect(await listIndexed(tier, { $is: 'silver' })).toEqual({ names: ['ann', 'bob'], total: 2 });
  });

  it('pages one value by cursor and by page number in created_at order', async () => {
    const run = unique('paged');
    const key = `rank_${run.replace(/\W/g, '_')}`;
    await declare({ [key]: number });
    const names = ['a', 'b', 'c', 'd', 'e'];
    const created = [];
    for (const name of names) created.push(await customer(run, name, { [key]: 1 }));
    await customer(run, 'other', { [key]: 2 });
    const filter = { [`metadata.${key}`]: { conditions: { $is: 1 } } };
    expect(await list(filter, { limit: 2, page: 2 })).toEqual({ names: ['c', 'd'], total: 5 });
    expect(await list(filter, { limit: 2, order: '-created_at' })).toEqual({ names: ['e', 'd'], total: 5 });
    expect(await list(filter, { limit: 2, starting_after: created[1]!.created_at })).toEqual({ names: ['c', 'd'], total: 5 });
  });

  it('forgets a key the schema no longer declares, and filters it as untyped metadata again', async () => {
    const run = unique('undeclared');
    const key = `level_${run.replace(/\W/g, '_')}`;
    await declare({ [key]: number });
    await customer(run, 'ann', { [key]: 3 });
    expect(await listIndexed(key, { $is: 3 })).toEqual({ names: ['ann'], total: 1 });
    await api.put(`${SCHEMAS}/${schemaId}`, { properties: { [key]: { ...number, deleted: true } } }).expect(200);
    const { rows } = await test.db.query('SELECT count(*)::int AS values FROM customer_metadata_values WHERE key = $1', [key]);
    expect(rows[0].values).toBe(0);
    expect(await list({ [`metadata.${key}`]: { conditions: { $is: 3 } } })).toEqual({ names: ['ann'], total: 1 });
  });
});

describe('GET /v1/customers?segment_id= of a static segment', () => {
  it('leaves deleted customers out of its pages and its total', async () => {
    const run = unique('static');
    const members = [];
    for (const name of ['ann', 'bob', 'cid', 'dan']) members.push(await customer(run, name, {}));
    const segment = await api
      .post('/v1/segments', { name: run, type: 'static', customers: members.map(({ id }) => id) })
      .expect(200);
    await api.delete(`/v1/customers/${members[1]!.id}`).expect(204);
    const page = async (query: string) => {
      const body = (await api.get(`/v1/customers?segment_id=${segment.body.id}&${query}`).expect(200)).body;
      return {
        names: (body.customers as Array<{ name: string }>).map(({ name }) => name),
        total: body.total,
        more: body.has_more,
      };
    };
    expect(await page('order=created_at')).toEqual({ names: ['ann', 'cid', 'dan'], total: 3, more: false });
    expect(await page('order=created_at&limit=1&page=2')).toEqual({ names: ['cid'], total: 3, more: true });
    expect(await page(`limit=1&starting_after=${members[3]!.created_at}`)).toEqual({ names: ['cid'], total: 3, more: true });
    expect(await page('order=-created_at&limit=2')).toEqual({ names: ['dan', 'cid'], total: 3, more: true });
  });
});

describe('the plans of indexed lists', () => {
  const MANY = 2000;

  /** `MANY` customers written at once, with `metadata`, measured by ANALYZE as a table of customers would be. */
  async function many(run: string, metadata: (index: number) => Record<string, unknown>): Promise<string[]> {
    const ids = Array.from(
      { length: MANY },
      (_, index) => `cust_${run.replace(/\W/g, '').slice(-12)}${String(index).padStart(12, '0')}`,
    );
    await test.db.query(
      `INSERT INTO customers (id, source_id, name, metadata, created_at)
       SELECT id, id, id, metadata, now() + (ordinality * interval '1 millisecond')
       FROM unnest($1::text[], $2::jsonb[]) WITH ORDINALITY AS rows (id, metadata)`,
      [ids, ids.map((_, index) => JSON.stringify(metadata(index)))],
    );
    return ids;
  }

  /** The executed plans of a list's statements (its total, then its page), as the repository writes them. */
  async function plans(filters: CustomerListRequest['filters']) {
    await test.db.query('ANALYZE customers, segment_members, customer_metadata_values, customer_metadata_counts');
    const { store, statements } = recordingStore(test.db);
    await store.list({ filters, order: '-created_at', limit: 10, page: { kind: 'offset', offset: 0 } });
    return Promise.all(statements.map((statement) => executedPlan(test.db, statement)));
  }

  it('reads a static segment page from the members index and its total from the segment, never every member', async () => {
    const ids = await many(unique('plan-static'), () => ({}));
    const segment = await api.post('/v1/segments', { name: 'plan', type: 'static', customers: ids }).expect(200);
    const [total, page] = await plans(listedIn(segment.body.id));
    expect(total).not.toContain('"Relation Name":"segment_members"');
    expect(total).not.toContain('"Relation Name":"customers"');
    expect(page).toContain('"Index Name":"segment_members_segment_id_created_at_customer_id_idx"');
    expect(page).not.toContain(`"Actual Rows":${MANY}`);
  });

  it('counts a declared key’s filter from its counts, never its customers, and pages one value from its index', async () => {
    const key = `grade_${unique('plan').replace(/\W/g, '_')}`;
    await declare({ [key]: number });
    await many(key, (index) => ({ [key]: index % 2 }));
    const rules: MetadataSchemaRules = {
      allowDefinedOnly: false,
      properties: { [key]: { type: 'number', optional: true, array: false } },
    };
    const match = (conditions: Record<string, unknown>) =>
      filterMatch(readCustomerFilter({ [`metadata.${key}`]: { conditions } }, 'filters', 'body', rules));
    const [total, page] = await plans(match({ $is: 1 }));
    expect(total).toContain('"Relation Name":"customer_metadata_counts"');
    expect(total).not.toContain('"Relation Name":"customers"');
    expect(page).toContain('"Index Name":"customer_metadata_values_number_idx"');
    expect(page).not.toContain(`"Actual Rows":${MANY / 2}`);
    const [rangeTotal] = await plans(match({ $more_than: 0 }));
    expect(rangeTotal).toContain('"Relation Name":"customer_metadata_counts"');
    expect(rangeTotal).not.toContain('"Relation Name":"customers"');
  });
});
