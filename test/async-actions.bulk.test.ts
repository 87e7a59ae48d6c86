import { describe, expect, it } from 'vitest';
import { useTestApp } from './support/app.js';
import { ANY_ASYNC_ACTION_ID, ANY_REPORT, doneAction, finishedAction } from './support/async-actions.js';
import { ANY_TIMESTAMP, bobSmith, customerBody, errorBody, invalidPayload, unique } from './support/customers.js';
import { expectReferenceSchema } from './support/reference.js';

const test = useTestApp();
const { api } = test;

/** Sends a bulk update and waits for its action to finish. */
async function bulkUpdate(body: unknown) {
  const accepted = await api.post('/v1/customers/bulk/async', body).expect(202);
  expect(accepted.body).toEqual({ async_action_id: ANY_ASYNC_ACTION_ID });
  return { accepted, action: await finishedAction(api, accepted.body.async_action_id) };
}

const bulkResult = (doneCount: number, failed: Array<{ source_id: string; row: number; reason: string }> = []) => ({
  message: `${doneCount} customer(s) updated successfully, ${failed.length} failed.`,
  done_count: doneCount,
  failed_count: failed.length,
  failed,
  errors: failed.map(({ source_id, reason }) => ({
    key: 'invalid_payload',
    message: 'Invalid payload',
    details: reason,
    source_id,
  })),
  ...ANY_REPORT,
});

describe('POST /v1/customers/bulk/async', () => {
  it('answers 202 with an async action that carries the accepting request id', async () => {
    const { accepted, action } = await bulkUpdate([{ source_id: unique('accepted'), name: 'Accepted' }]);
    expectReferenceSchema('CustomersUpdateInBulkResponseBody', accepted.body);
    expect(action).toEqual(
      doneAction('CUSTOMERS.BULK_UPDATE', bulkResult(1), {
        id: accepted.body.async_action_id,
        request_id: accepted.headers['x-request-id'],
      }),
    );
    expectReferenceSchema('AsyncActionBase', action, 'async-actions');
  });

  it('creates the customers that are missing, with every writable field', async () => {
    const sourceId = unique('created');
    const { action } = await bulkUpdate([bobSmith(sourceId)]);
    expect(action.result).toEqual(bulkResult(1));
    const customer = await api.get(`/v1/customers/${sourceId}`).expect(200);
    expect(customer.body).toEqual(customerBody(bobSmith(sourceId)));
  });

  it('updates existing customers with PUT semantics: absent fields stay, null clears, address and metadata are replaced', async () => {
    const sourceId = unique('existing');
    const created = (await api.post('/v1/customers', bobSmith(sourceId)).expect(200)).body;
    const { action } = await bulkUpdate([
      { source_id: sourceId, name: 'Robert Smith', phone: null, address: { city: 'Boston' }, metadata: { tier: 'gold' } },
    ]);
    expect(action.result).toEqual(bulkResult(1));
    const { phone: _phone, ...unchanged } = bobSmith(sourceId);
    const customer = await api.get(`/v1/customers/${created.id}`).expect(200);
    expect(customer.body).toEqual(
      customerBody(
        { ...unchanged, name: 'Robert Smith', address: { city: 'Boston' }, metadata: { tier: 'gold' } },
        { id: created.id, createdAt: created.created_at, updatedAt: ANY_TIMESTAMP },
      ),
    );
  });

  it('reports each invalid customer as a failed row with the validation of POST /customers, and applies the others', async () => {
    const [good, badEmail, unknownField] = [unique('good'), unique('bad-email'), unique('unknown')];
    const { action } = await bulkUpdate([
      { source_id: good, name: 'Good' },
      { source_id: badEmail, email: 'not an email' },
      'not an object',
      { name: 'No source id' },
      { source_id: unknownField, nickname: 'Bob' },
      { source_id: 42 },
      { source_id: unique('metadata'), metadata: { nested: { a: { b: { c: { d: { e: 1 } } } } } } },
    ]);
    expect(action.result).toEqual(
      bulkResult(1, [
        { source_id: badEmail, row: 2, reason: 'Property .email must be a valid email address' },
        { source_id: '', row: 3, reason: 'The item must be object' },
        { source_id: '', row: 4, reason: 'Property .source_id is required' },
        { source_id: unknownField, row: 5, reason: 'Property .nickname is not allowed' },
        { source_id: '', row: 6, reason: 'Property .source_id must be string' },
        {
          source_id: expect.stringMatching(/^metadata-/),
          row: 7,
          reason:
            'Property .metadata.nested.a.b.c.d must be a string, number, boolean, null or an array of those (objects nest at most 5 levels deep)',
        },
      ]),
    );
    expectReferenceSchema('AsyncActionResultCustomersMetadataUpdateResponseBody', action.result, 'async-actions');
    await api.get(`/v1/customers/${good}`).expect(200);
    await api.get(`/v1/customers/${badEmail}`).expect(404);
  });

  it('applies a customer sent twice in order, as two writes', async () => {
    const sourceId = unique('twice');
    const { action } = await bulkUpdate([
      { source_id: sourceId, name: 'First', phone: '1' },
      { source_id: sourceId, name: 'Second' },
    ]);
    expect(action.result).toEqual(bulkResult(2));
    const customer = await api.get(`/v1/customers/${sourceId}`).expect(200);
    expect(customer.body).toEqual(
      customerBody({ source_id: sourceId, name: 'Second', phone: '1' }, { updatedAt: ANY_TIMESTAMP }),
    );
  });

  it('gives the customers one batch creates one created_at, in milliseconds, and leaves them without updated_at', async () => {
    const prefix = unique('batch');
    const { action } = await bulkUpdate(Array.from({ length: 20 }, (_, index) => ({ source_id: `${prefix}-${index}` })));
    expect(action.result.done_count).toBe(20);
    const { rows } = await test.db.query(
      `SELECT count(DISTINCT created_at)::int AS instants, count(*)::int AS customers, count(updated_at)::int AS updated
       FROM customers WHERE source_id LIKE $1`,
      [`${prefix}-%`],
    );
    expect(rows).toEqual([{ instants: 1, customers: 20, updated: 0 }]);
  });

  it('never makes two live customers of one source_id, even against concurrent single creates', async () => {
    const prefix = unique('race');
    const sourceIds = Array.from({ length: 50 }, (_, index) => `${prefix}-${index}`);
    const [accepted] = await Promise.all([
      api
        .post(
          '/v1/customers/bulk/async',
          sourceIds.map((source_id) => ({ source_id, name: 'Bulk' })),
        )
        .expect(202),
      ...sourceIds.map((source_id) => api.post('/v1/customers', { source_id, phone: 'single' }).expect(200)),
    ]);
    const action = await finishedAction(api, accepted.body.async_action_id);
    expect(action.result).toMatchObject({ done_count: 50, failed_count: 0 });
    const { rows } = await test.db.query(
      `SELECT count(*)::int AS customers, count(DISTINCT source_id)::int AS source_ids FROM customers
       WHERE source_id LIKE $1 AND deleted_at IS NULL`,
      [`${prefix}-%`],
    );
    expect(rows).toEqual([{ customers: 50, source_ids: 50 }]);
  });

  it('takes a body over the 1 MiB limit of the other routes, up to 10 MiB', async () => {
    const prefix = unique('large');
    const description = 'd'.repeat(1000);
    const body = Array.from({ length: 2000 }, (_, index) => ({ source_id: `${prefix}-${index}`, description }));
    expect(Buffer.byteLength(JSON.stringify(body))).toBeGreaterThan(2 * 1024 * 1024);
    const { action } = await bulkUpdate(body);
    expect(action.result).toMatchObject({ done_count: 2000, failed_count: 0 });
  });

  it('answers 413 in the Error shape to a body over 10 MiB', async () => {
    const body = JSON.stringify([{ source_id: 'x', description: 'd'.repeat(10 * 1024 * 1024) }]);
    const response = await api.post('/v1/customers/bulk/async').send(body).expect(413);
    expect(response.body).toEqual(
      errorBody(413, 'payload_too_large', 'Payload too large', { details: 'Request body is too large' }),
    );
  });

  it.each([
    ['an object', { source_id: 'x' }, 'The request body must be array'],
    ['an empty array', [], 'The request body must NOT have fewer than 1 items'],
    ['null', null, 'The request body must be array'],
  ])('answers 400 to %s', async (_case, body, details) => {
    const response = await api.post('/v1/customers/bulk/async').send(JSON.stringify(body)).expect(400);
    expect(response.body).toEqual(invalidPayload(details));
  });

  it('answers 400 naming the limit to a bulk item nested 20,000 levels deep, and takes one at the deepest valid nesting', async () => {
    const deep = `[{"source_id":"deep","metadata":{"a":${'['.repeat(20_000)}${']'.repeat(20_000)}}}]`;
    const refused = await api.post('/v1/customers/bulk/async').send(deep).expect(400);
    expect(refused.body).toEqual(invalidPayload('The request body nests deeper than 32 levels'));
    // Brackets inside strings are text, not nesting.
    const nested = { l1: { l2: { l3: { l4: { l5: ['{'.repeat(100), '[\\"'] } } } } };
    await api.post('/v1/customers/bulk/async', [{ source_id: unique('nested'), metadata: nested }]).expect(202);
  });

  it('answers 400 to a body that is not JSON, and 415 to one that is not declared JSON', async () => {
    const broken = await api.post('/v1/customers/bulk/async').send('[{"source_id":').expect(400);
    expect(broken.body).toEqual(invalidPayload('The request body is not valid JSON'));
    const csv = await api.post('/v1/customers/bulk/async').set('Content-Type', 'text/csv').send('source_id\nx').expect(415);
    expect(csv.body).toEqual(
      errorBody(415, 'unsupported_media_type', 'Unsupported media type', { details: 'Unsupported Media Type' }),
    );
  });

  it('answers 401 without credentials and 405 to another method', async () => {
    const response = await test
      .raw()
      .post('/v1/customers/bulk/async')
      .send([{ source_id: 'x' }])
      .expect(401);
    expect(response.body).toEqual(errorBody(401, 'unauthorized', 'Unauthorized'));
    await api.get('/v1/customers/bulk/async').expect(405);
  });
});
