import { describe, expect, it } from 'vitest';
import { useTestApp } from './support/app.js';
import {
  ANY_TIMESTAMP,
  bobSmith,
  customerBody,
  customerNotFound,
  errorBody,
  invalidPayload,
  unique,
} from './support/customers.js';
import { expectReferenceSchema } from './support/reference.js';

const test = useTestApp();
const { api } = test;

const create = async (body: Record<string, unknown>) => (await api.post('/v1/customers', body).expect(200)).body;

describe('GET /v1/customers/:customerId', () => {
  it('finds a customer by id', async () => {
    const created = await create(bobSmith(unique('get')));
    const response = await api.get(`/v1/customers/${created.id}`).expect(200);
    expect(response.body).toEqual(created);
    expectReferenceSchema('CustomersGetResponseBody', response.body);
  });

  it('finds a customer by source_id', async () => {
    const created = await create(bobSmith(unique('get-by-source')));
    const response = await api.get(`/v1/customers/${created.source_id}`).expect(200);
    expect(response.body).toEqual(created);
  });

  it('URL-decodes a source_id with reserved characters', async () => {
    const sourceId = `${unique('odd')}/a b?c=d&e#f%g+h`;
    const created = await create({ source_id: sourceId, name: 'Odd' });
    const response = await api.get(`/v1/customers/${encodeURIComponent(sourceId)}`).expect(200);
    expect(response.body).toEqual(
      customerBody({ source_id: sourceId, name: 'Odd' }, { id: created.id, createdAt: created.created_at }),
    );
  });

  it('finds a 255-character Unicode source_id', async () => {
    const sourceId = `${unique('long')}${'ü'.repeat(255)}`.slice(0, 255);
    const created = await create({ source_id: sourceId });
    await api.get(`/v1/customers/${encodeURIComponent(sourceId)}`).expect(200, created);
  });

  it('prefers the customer whose id matches over one whose source_id matches', async () => {
    const first = await create({ name: 'First' });
    const second = await create({ source_id: first.id, name: 'Second' });
    await api.get(`/v1/customers/${first.id}`).expect(200, first);
    await api.delete(`/v1/customers/${first.id}`).expect(204);
    await api.get(`/v1/customers/${first.id}`).expect(200, second);
  });

  it('answers 404 with the resource fields for an unknown customer', async () => {
    const response = await api.get('/v1/customers/cust_sehkNIi8Uq2qQuRqSr7xn4Z').expect(404);
    expect(response.body).toEqual(customerNotFound('cust_sehkNIi8Uq2qQuRqSr7xn4Z'));
    expectReferenceSchema('Error', response.body);
  });

  it('answers 414 for a path segment far longer than any source_id', async () => {
    const response = await api.get(`/v1/customers/${'x'.repeat(5000)}`).expect(414);
    expect(response.body).toEqual(
      errorBody(414, 'uri_too_long', 'URI too long', {
        details: 'A path segment is longer than any customer id or source_id can be',
      }),
    );
    // Found while routing, before any hook: the header still names the request.
    expect(response.headers['x-request-id']).toBe(response.body.request_id);
  });

  it('answers 400 for malformed percent-encoding', async () => {
    const response = await api.get('/v1/customers/%E0%A4%A').expect(400);
    expect(response.body).toEqual(invalidPayload('The URL is not validly percent-encoded'));
    expect(response.headers['x-request-id']).toBe(response.body.request_id);
  });
});

describe('PUT /v1/customers/:customerId', () => {
  it('changes only the fields sent and sets updated_at', async () => {
    const sourceId = unique('put');
    const created = await create(bobSmith(sourceId));
    const response = await api
      .put(`/v1/customers/${created.id}`, { name: 'Alice McDonald', email: 'alice@example.com' })
      .expect(200);
    expect(response.body).toEqual(
      customerBody(
        { ...bobSmith(sourceId), name: 'Alice McDonald', email: 'alice@example.com' },
        { id: created.id, createdAt: created.created_at, updatedAt: ANY_TIMESTAMP },
      ),
    );
    expect(response.body.updated_at >= created.created_at).toBe(true);
    expectReferenceSchema('CustomersUpdateResponseBody', response.body);
    await api.get(`/v1/customers/${created.id}`).expect(200, response.body);
  });

  it('updates a customer found by its URL-encoded source_id', async () => {
    const sourceId = `${unique('put')}/with space`;
    const created = await create({ source_id: sourceId });
    const response = await api.put(`/v1/customers/${encodeURIComponent(sourceId)}`, { phone: '+48 123' }).expect(200);
    expect(response.body).toEqual(
      customerBody(
        { source_id: sourceId, phone: '+48 123' },
        { id: created.id, createdAt: created.created_at, updatedAt: ANY_TIMESTAMP },
      ),
    );
  });

  it('clears a field sent as null', async () => {
    const sourceId = unique('clear');
    const created = await create(bobSmith(sourceId));
    const response = await api
      .put(`/v1/customers/${created.id}`, { phone: null, address: null, metadata: null, birthdate: null })
      .expect(200);
    const { phone: _p, address: _a, metadata: _m, birthdate: _b, ...rest } = bobSmith(sourceId);
    expect(response.body).toEqual(
      customerBody(rest, { id: created.id, createdAt: created.created_at, updatedAt: ANY_TIMESTAMP }),
    );
  });

  it('replaces address and metadata as a whole instead of merging them', async () => {
    const created = await create({ address: { city: 'Berlin', line_1: 'Unter den Linden 1' }, metadata: { a: 1, b: 2 } });
    const response = await api.put(`/v1/customers/${created.id}`, { address: { country: 'DE' }, metadata: { c: 3 } }).expect(200);
    expect(response.body.address).toEqual({ country: 'DE' });
    expect(response.body.metadata).toEqual({ c: 3 });
  });

  it('accepts and ignores id and source_id in the body, as the official SDK sends them', async () => {
    const sourceId = unique('keep');
    const created = await create({ source_id: sourceId });
    const response = await api
      .put(`/v1/customers/${sourceId}`, { id: 'cust_other', source_id: 'changed', name: 'Kept' })
      .expect(200);
    expect(response.body).toEqual(
      customerBody(
        { source_id: sourceId, name: 'Kept' },
        { id: created.id, createdAt: created.created_at, updatedAt: ANY_TIMESTAMP },
      ),
    );
  });

  it('answers 404 for an unknown customer and never creates one', async () => {
    const sourceId = unique('never');
    const response = await api.put(`/v1/customers/${sourceId}`, { name: 'Nobody' }).expect(404);
    expect(response.body).toEqual(customerNotFound(sourceId));
    await api.get(`/v1/customers/${sourceId}`).expect(404);
  });

  it('answers 404 for a deleted customer', async () => {
    const created = await create({});
    await api.delete(`/v1/customers/${created.id}`).expect(204);
    const response = await api.put(`/v1/customers/${created.id}`, { name: 'Ghost' }).expect(404);
    expect(response.body).toEqual(customerNotFound(created.id));
  });

  it.each([
    [{ name: 7 }, 'Property .name must be string'],
    [{ email: 'nope' }, 'Property .email must be a valid email address'],
    [{ birthdate: '2023-02-29' }, 'Property .birthdate must be a valid date in the format YYYY-MM-DD'],
    [{ address: { city: '' } }, 'Property .address.city must NOT have fewer than 1 characters'],
    [{ summary: {} }, 'Property .summary is not allowed'],
  ])('rejects %j naming the property', async (body, details) => {
    const created = await create({ name: 'Valid' });
    const response = await api.put(`/v1/customers/${created.id}`, body).expect(400);
    expect(response.body).toEqual(invalidPayload(details));
    await api.get(`/v1/customers/${created.id}`).expect(200, created);
  });
});

describe('DELETE /v1/customers/:customerId', () => {
  it('answers 204 with an empty body to a bodiless request sent as application/json', async () => {
    const created = await create({});
    const response = await api.delete(`/v1/customers/${created.id}`).expect(204);
    expect(response.text).toBe('');
  });

  it('removes the customer from every read', async () => {
    const name = unique('deleted');
    const created = await create({ name, source_id: unique('del') });
    await api.delete(`/v1/customers/${created.source_id}`).expect(204);
    await api.get(`/v1/customers/${created.id}`).expect(404);
    await api.get(`/v1/customers/${created.source_id}`).expect(404);
    const list = await api.get(`/v1/customers?name=${name}`).expect(200);
    expect(list.body).toEqual({ object: 'list', data_ref: 'customers', customers: [], total: 0, has_more: false });
  });

  it('frees the source_id for a new customer and keeps the old one as <source_id>_deleted<timestamp>', async () => {
    const sourceId = unique('reuse');
    const first = await create({ source_id: sourceId, name: 'First' });
    await api.delete(`/v1/customers/${sourceId}`).expect(204);
    const second = await create({ source_id: sourceId, name: 'Second' });
    expect(second.id).not.toBe(first.id);
    expect(second).toEqual(customerBody({ source_id: sourceId, name: 'Second' }));

    const { rows } = await test.db.query('SELECT source_id, deleted_at IS NOT NULL AS deleted FROM customers WHERE id = $1', [
      first.id,
    ]);
    expect(rows).toEqual([
      {
        source_id: expect.stringMatching(new RegExp(`^${sourceId}_deleted\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}\\.\\d{3}Z$`)),
        deleted: true,
      },
    ]);
  });

  it('answers 404 for an unknown customer and for a second delete', async () => {
    const created = await create({});
    await api.delete(`/v1/customers/${created.id}`).expect(204);
    const response = await api.delete(`/v1/customers/${created.id}`).expect(404);
    expect(response.body).toEqual(customerNotFound(created.id));
  });
});

describe('a NUL character in the URL', () => {
  it.each(['/v1/customers/a%00b', '/v1/customers?email=a%00b', '/v1/customers/x/activity?type=%00'])(
    'is refused: %s',
    async (path) => {
      const response = await api.get(path).expect(400);
      expect(response.body).toEqual(
        invalidPayload('The URL contains a NUL character or a lone surrogate, which cannot be stored'),
      );
    },
  );
});
