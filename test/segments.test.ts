import { beforeAll, describe, expect, it } from 'vitest';
import { useTestApp } from './support/app.js';
import { sdkClient, type SdkClient } from './support/sdk.js';
import { ANY_TIMESTAMP, customerNotFound, errorBody, invalidPayload, unique } from './support/customers.js';
import { expectReferenceSchema } from './support/reference.js';

const test = useTestApp();
const { api } = test;

const ANY_SEGMENT_ID = expect.stringMatching(/^seg_[0-9A-Za-z]{24}$/);

const segmentNotFound = (id: string) =>
  errorBody(404, 'not_found', 'Resource not found', {
    details: `Cannot find segment with id ${id}`,
    resource_id: id,
    resource_type: 'segment',
  });

async function customer(run: string, name: string, metadata: Record<string, unknown> = {}) {
  const response = await api
    .post('/v1/customers', { source_id: `${run}-${name}`, name, metadata: { run, ...metadata } })
    .expect(200);
  return response.body as { id: string; source_id: string; created_at: string };
}

const sourceIdsOf = (body: { customers: Array<{ source_id: string }> }) => body.customers.map((member) => member.source_id);

describe('POST /v1/segments', () => {
  it('creates a static segment of customers named by id or source_id', async () => {
    const run = unique('static');
    const [ann, bob] = [await customer(run, 'ann'), await customer(run, 'bob')];
    const response = await api
      .post('/v1/segments', { name: 'Listed', type: 'static', customers: [ann.id, bob.source_id] })
      .expect(200);
    expect(response.body).toEqual({
      id: ANY_SEGMENT_ID,
      name: 'Listed',
      created_at: ANY_TIMESTAMP,
      type: 'static',
      filter: null,
      initial_sync_status: 'DONE',
      object: 'segment',
    });
    expectReferenceSchema('SegmentsCreateResponseBody', response.body, 'segments');
    expect((await api.get(`/v1/segments/${response.body.id}`).expect(200)).body).toEqual(response.body);
    const members = await api.get(`/v1/customers?segment_id=${response.body.id}&order=created_at`).expect(200);
    expect(sourceIdsOf(members.body)).toEqual([ann.source_id, bob.source_id]);
    expect(members.body.total).toBe(2);
  });

  it('creates an auto-update segment whose members follow every write at once', async () => {
    const run = unique('auto');
    const filter = {
      junction: 'and',
      'metadata.run': { conditions: { $is: run } },
      'metadata.tier': { conditions: { $is: 'gold' } },
    };
    const created = await api.post('/v1/segments', { name: 'Gold', type: 'auto-update', filter }).expect(200);
    expect(created.body).toEqual({
      id: ANY_SEGMENT_ID,
      name: 'Gold',
      created_at: ANY_TIMESTAMP,
      type: 'auto-update',
      filter,
      initial_sync_status: 'DONE',
      object: 'segment',
    });
    expectReferenceSchema('SegmentsGetResponseBody', created.body, 'segments');
    const members = async () => sourceIdsOf((await api.get(`/v1/customers?segment_id=${created.body.id}`).expect(200)).body);

    const ann = await customer(run, 'ann', { tier: 'gold' });
    await customer(run, 'bob', { tier: 'silver' });
    expect(await members()).toEqual([ann.source_id]);
    // A read right after a write sees it: Bob joins, Ann leaves.
    await api.put(`/v1/customers/${run}-bob`, { metadata: { run, tier: 'gold' } }).expect(200);
    await api.put(`/v1/customers/${ann.id}`, { metadata: { run, tier: 'bronze' } }).expect(200);
    expect(await members()).toEqual([`${run}-bob`]);
    await api.delete(`/v1/customers/${run}-bob`).expect(204);
    expect(await members()).toEqual([]);
  });

  it('answers 400 to a bad segment', async () => {
    const run = unique('bad');
    const ann = await customer(run, 'ann');
    const bad = async (body: unknown, details: unknown) => {
      const response = await api.post('/v1/segments', body).expect(400);
      expect(response.body).toEqual(invalidPayload(details as string));
    };
    await bad(
      { name: 'Too many', type: 'static', customers: Array.from({ length: 20_001 }, (_, index) => `c${index}`) },
      'Property .customers must NOT have more than 20000 items',
    );
    await bad(
      { name: 'Unknown', type: 'static', customers: [ann.id, 'nobody-1', 'nobody-2'] },
      'Property .customers names no live customer: nobody-1, nobody-2',
    );
    await bad(
      { name: 'Both', type: 'static', customers: [ann.id], filter: { name: { conditions: { $is: 'x' } } } },
      expect.stringMatching(/^Property \.filter is for auto-update segments/),
    );
    await bad({ name: 'No filter', type: 'auto-update' }, 'Property .filter is required');
    await bad({ name: 'No list', type: 'static' }, 'Property .customers is required');
    await bad({ name: 'Kind', type: 'dynamic', filter: {} }, 'Property .type must be one of: static, auto-update');
    await bad(
      { name: 'Empty key', type: 'auto-update', filter: { 'metadata.': { conditions: { $is: 'x' } } } },
      'Property .filter.metadata. names an empty metadata key',
    );
    // Nothing was stored by a refused static segment.
    expect((await api.get(`/v1/customers/${ann.id}/segments`).expect(200)).body.total).toBe(0);
  });
});

describe('GET /v1/customers?segment_id', () => {
  it('pages through a static segment’s live members with an exact total', async () => {
    const run = unique('pages');
    const members = [];
    for (let index = 0; index < 5; index += 1) members.push(await customer(run, `m${index}`));
    await customer(run, 'outsider');
    const segment = (
      await api.post('/v1/segments', { name: 'Five', type: 'static', customers: members.map((member) => member.id) }).expect(200)
    ).body;
    await api.delete(`/v1/customers/${members[4]!.id}`).expect(204);
    const first = await api.get(`/v1/customers?segment_id=${segment.id}&limit=2&order=created_at`).expect(200);
    expect(first.body).toMatchObject({ total: 4, has_more: true });
    const second = await api
      .get(`/v1/customers?segment_id=${segment.id}&limit=2&order=created_at&starting_after=${first.body.customers[1].created_at}`)
      .expect(200);
    expect([...sourceIdsOf(first.body), ...sourceIdsOf(second.body)]).toEqual(
      members.slice(0, 4).map((member) => member.source_id),
    );
    // Filters and the segment combine.
    const filtered = await api.get(`/v1/customers?segment_id=${segment.id}&filters[name][conditions][$is]=m1`).expect(200);
    expect(sourceIdsOf(filtered.body)).toEqual([`${run}-m1`]);
  });

  it('answers 404 for a deleted or unknown segment', async () => {
    const segment = (
      await api
        .post('/v1/segments', { name: 'Gone', type: 'auto-update', filter: { name: { conditions: { $is: 'x' } } } })
        .expect(200)
    ).body;
    await api.delete(`/v1/segments/${segment.id}`).expect(204);
    expect((await api.get(`/v1/customers?segment_id=${segment.id}`).expect(404)).body).toEqual(segmentNotFound(segment.id));
    expect((await api.get(`/v1/segments/${segment.id}`).expect(404)).body).toEqual(segmentNotFound(segment.id));
    expect((await api.delete(`/v1/segments/${segment.id}`).expect(404)).body).toEqual(segmentNotFound(segment.id));
  });
});

describe('GET /v1/customers/{id}/segments', () => {
  it('answers the static segments that list the customer and the auto-update ones it matches now', async () => {
    const run = unique('mine');
    const ann = await customer(run, 'ann', { tier: 'gold' });
    const listed = (await api.post('/v1/segments', { name: 'Listed', type: 'static', customers: [ann.source_id] }).expect(200))
      .body;
    const gold = (
      await api
        .post('/v1/segments', {
          name: 'Gold',
          type: 'auto-update',
          filter: { 'metadata.run': { conditions: { $is: run } }, 'metadata.tier': { conditions: { $is: 'gold' } } },
        })
        .expect(200)
    ).body;
    await api
      .post('/v1/segments', {
        name: 'Silver',
        type: 'auto-update',
        filter: { 'metadata.run': { conditions: { $is: run } }, 'metadata.tier': { conditions: { $is: 'silver' } } },
      })
      .expect(200);
    const response = await api.get(`/v1/customers/${ann.id}/segments`).expect(200);
    expect(response.body).toEqual({
      object: 'list',
      data_ref: 'data',
      data: [
        { id: listed.id, name: 'Listed', object: 'segment' },
        { id: gold.id, name: 'Gold', object: 'segment' },
      ],
      total: 2,
    });
    expectReferenceSchema('CustomersSegmentsListResponseBody', response.body);
    await api.put(`/v1/customers/${ann.source_id}`, { metadata: { run, tier: 'silver' } }).expect(200);
    const after = await api.get(`/v1/customers/${ann.source_id}/segments`).expect(200);
    expect(after.body.data.map((segment: { name: string }) => segment.name)).toEqual(['Listed', 'Silver']);
  });

  it('evaluates more auto-update segments than one statement can return columns for', async () => {
    const run = unique('many');
    const ann = await customer(run, 'ann', { n: 7 });
    // 1,700 filters: more than PostgreSQL's 1,664 result columns of one statement.
    for (let n = 0; n < 1_700; n += 1) {
      await api
        .post('/v1/segments', {
          name: `${run} ${n}`,
          type: 'auto-update',
          filter: { 'metadata.run': { conditions: { $is: run } }, 'metadata.n': { conditions: { $is: n % 850 } } },
        })
        .expect(200);
    }
    const response = await api.get(`/v1/customers/${ann.id}/segments`).expect(200);
    expect(response.body.data.map((segment: { name: string }) => segment.name)).toEqual([`${run} 7`, `${run} 857`]);
  });

  it('answers 404 for an unknown customer', async () => {
    expect((await api.get('/v1/customers/nobody-here/segments').expect(404)).body).toEqual(customerNotFound('nobody-here'));
  });
});

describe('GET /v1/segments', () => {
  it('lists segments newest first, with a total', async () => {
    const names = [unique('one'), unique('two')];
    for (const name of names) await api.post('/v1/segments', { name, type: 'static', customers: [] }).expect(200);
    const response = await api.get('/v1/segments?limit=2').expect(200);
    expect(response.body).toMatchObject({ object: 'list', data_ref: 'data' });
    expect(response.body.data.map((segment: { name: string }) => segment.name)).toEqual([...names].reverse());
    expect(response.body.total).toBeGreaterThanOrEqual(2);
  });
});

describe('segments through the official SDK', () => {
  let client: SdkClient;
  beforeAll(async () => {
    client = await sdkClient(test);
  });

  it('creates, gets, lists a customer’s and deletes segments', async () => {
    const run = unique('sdk');
    const ann = await customer(run, 'ann', { tier: 'gold' });
    const created = await client.segments.create({
      name: 'SDK gold',
      type: 'auto-update',
      filter: { 'metadata.run': { conditions: { $is: run } }, 'metadata.tier': { conditions: { $in: ['gold'] } } },
    } as Parameters<typeof client.segments.create>[0]);
    expect(await client.segments.get(created.id)).toEqual(created);
    const mine = await client.segments.list(ann.id);
    expect(mine.data).toEqual([{ id: created.id, name: 'SDK gold', object: 'segment' }]);
    await client.segments.delete(created.id);
    await expect(client.segments.get(created.id)).rejects.toMatchObject({ code: 404, key: 'not_found' });
  });
});
