import { describe, expect, it } from 'vitest';
import { useTestApp } from './support/app.js';
import { ANY_TIMESTAMP, bobSmith, customerBody, customerNotFound, invalidPayload, unique } from './support/customers.js';
import { expectReferenceSchema } from './support/reference.js';

const { api } = useTestApp();

describe('POST /v1/customers', () => {
  it('creates a customer with every writable field', async () => {
    const sourceId = unique('bob');
    const before = new Date().toISOString();
    const response = await api.post('/v1/customers', bobSmith(sourceId)).expect(200);
    expect(response.body).toEqual(customerBody(bobSmith(sourceId)));
    expect(response.body.created_at >= before.slice(0, 19)).toBe(true);
    expect(response.headers['content-type']).toBe('application/json; charset=utf-8');
    expectReferenceSchema('CustomersCreateResponseBody', response.body);
  });

  it('creates a customer from an empty body, leaving every optional field out', async () => {
    const response = await api.post('/v1/customers', {}).expect(200);
    expect(response.body).toEqual(customerBody({}));
    expectReferenceSchema('CustomersCreateResponseBody', response.body);
  });

  it('stores the deprecated birthday apart from birthdate', async () => {
    const response = await api.post('/v1/customers', { birthday: '1990-05-06', birthdate: '1991-07-08' }).expect(200);
    expect(response.body).toEqual(customerBody({ birthday: '1990-05-06', birthdate: '1991-07-08' }));
  });

  it('treats fields sent as null as unset, and drops null address lines', async () => {
    const response = await api
      .post('/v1/customers', { name: null, email: null, address: { city: 'Oslo', state: null }, metadata: null })
      .expect(200);
    expect(response.body).toEqual(customerBody({ address: { city: 'Oslo' } }));
  });

  it('accepts strings at their limits: 255 characters, 1024 for description, any Unicode', async () => {
    const body = {
      source_id: `${unique('s')}${'ß'.repeat(200)}`.slice(0, 255),
      name: 'ñ'.repeat(255),
      description: 'd'.repeat(1024),
      phone: '📞'.repeat(10),
    };
    const response = await api.post('/v1/customers', body).expect(200);
    expect(response.body).toEqual(customerBody(body));
  });

  it('accepts metadata at its limits: 100 keys, nesting 5 levels, arrays of scalars', async () => {
    const metadata: Record<string, unknown> = Object.fromEntries(
      Array.from({ length: 98 }, (_, index) => [`key_${index}`, index]),
    );
    metadata['nested'] = { l2: { l3: { l4: { l5: 'deep' } } } };
    metadata['k'.repeat(100)] = [1, 'two', true, null, 4.5];
    const response = await api.post('/v1/customers', { metadata }).expect(200);
    expect(response.body).toEqual(customerBody({ metadata }));
  });

  describe('upsert by source_id', () => {
    it('updates the live customer with that source_id, with PUT semantics', async () => {
      const sourceId = unique('upsert');
      const created = (await api.post('/v1/customers', bobSmith(sourceId)).expect(200)).body;

      const response = await api
        .post('/v1/customers', { source_id: sourceId, name: 'Robert Smith', phone: null, metadata: { tier: 'gold' } })
        .expect(200);

      const { phone: _phone, ...unchanged } = bobSmith(sourceId);
      expect(response.body).toEqual(
        customerBody(
          { ...unchanged, name: 'Robert Smith', metadata: { tier: 'gold' } },
          { id: created.id, createdAt: created.created_at, updatedAt: ANY_TIMESTAMP },
        ),
      );
      expect(response.body.updated_at >= created.created_at).toBe(true);
      expectReferenceSchema('CustomersCreateResponseBody', response.body);
    });

    it('with only the source_id, returns the existing customer unchanged but for updated_at', async () => {
      const sourceId = unique('same');
      const created = (await api.post('/v1/customers', { source_id: sourceId, name: 'Ann' }).expect(200)).body;
      const response = await api.post('/v1/customers', { source_id: sourceId }).expect(200);
      expect(response.body).toEqual({ ...created, updated_at: ANY_TIMESTAMP });
    });
  });

  describe('upsert by id', () => {
    it('updates the customer with that id and ignores a source_id in the body', async () => {
      const sourceId = unique('by-id');
      const created = (await api.post('/v1/customers', { source_id: sourceId, name: 'Ann' }).expect(200)).body;

      const response = await api
        .post('/v1/customers', { id: created.id, source_id: unique('ignored'), email: 'ann@example.com' })
        .expect(200);

      expect(response.body).toEqual(
        customerBody(
          { source_id: sourceId, name: 'Ann', email: 'ann@example.com' },
          { id: created.id, createdAt: created.created_at, updatedAt: ANY_TIMESTAMP },
        ),
      );
    });

    it('answers 404 for an id that names no customer, and creates nothing', async () => {
      const sourceId = unique('orphan');
      const response = await api.post('/v1/customers', { id: 'cust_doesNotExist000000000', source_id: sourceId }).expect(404);
      expect(response.body).toEqual(customerNotFound('cust_doesNotExist000000000'));
      expectReferenceSchema('Error', response.body);
      await api.get(`/v1/customers/${sourceId}`).expect(404);
    });

    it('answers 404 for the id of a deleted customer', async () => {
      const created = (await api.post('/v1/customers', { name: 'Gone' }).expect(200)).body;
      await api.delete(`/v1/customers/${created.id}`).expect(204);
      const response = await api.post('/v1/customers', { id: created.id, name: 'Back' }).expect(404);
      expect(response.body).toEqual(customerNotFound(created.id));
    });
  });

  describe('rejects a body that breaks the contract, naming the property', () => {
    const nested = (depth: number): unknown => (depth === 0 ? 'leaf' : { level: nested(depth - 1) });
    const cases: Array<[string, unknown, string]> = [
      ['a number for a string', { name: 42 }, 'Property .name must be string'],
      ['a boolean for a string', { phone: true }, 'Property .phone must be string'],
      ['an empty string', { name: '' }, 'Property .name must NOT have fewer than 1 characters'],
      ['a 256-character name', { name: 'x'.repeat(256) }, 'Property .name must NOT have more than 255 characters'],
      [
        'a 1025-character description',
        { description: 'x'.repeat(1025) },
        'Property .description must NOT have more than 1024 characters',
      ],
      ['an invalid email', { email: 'not-an-email' }, 'Property .email must be a valid email address'],
      [
        'a date that does not exist',
        { birthdate: '2021-02-30' },
        'Property .birthdate must be a valid date in the format YYYY-MM-DD',
      ],
      ['a month 13', { birthday: '2021-13-01' }, 'Property .birthday must be a valid date in the format YYYY-MM-DD'],
      ['year zero', { birthdate: '0000-01-01' }, 'Property .birthdate must be a valid date in the format YYYY-MM-DD'],
      [
        'a date-time for a date',
        { birthdate: '2021-01-01T00:00:00Z' },
        'Property .birthdate must be a valid date in the format YYYY-MM-DD',
      ],
      ['a number for a date', { birthdate: 20220101 }, 'Property .birthdate must be string'],
      ['a string for the address', { address: 'New York' }, 'Property .address must be object'],
      ['a number in the address', { address: { city: 5 } }, 'Property .address.city must be string'],
      ['an unknown address field', { address: { zip: '10001' } }, 'Property .address.zip is not allowed'],
      ['an array for metadata', { metadata: [] }, 'Property .metadata must be object'],
      [
        'metadata with 101 keys',
        { metadata: Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`k${i}`, i])) },
        'Property .metadata must NOT have more than 100 properties',
      ],
      [
        'a metadata key of 101 characters',
        { metadata: { ['k'.repeat(101)]: 1 } },
        `Property .metadata has an invalid key "${'k'.repeat(101)}": keys must NOT have more than 100 characters`,
      ],
      [
        'an empty metadata key',
        { metadata: { '': 1 } },
        'Property .metadata has an invalid key "": keys must NOT have fewer than 1 characters',
      ],
      [
        'metadata over 16 KiB',
        { metadata: { big: 'x'.repeat(16 * 1024) } },
        'Property .metadata must be at most 16384 bytes serialized',
      ],
      [
        'metadata nested 6 levels',
        { metadata: { top: nested(5) } },
        'Property .metadata.top.level.level.level.level must be a string, number, boolean, null or an array of those (objects nest at most 5 levels deep)',
      ],
      [
        'an array of objects in metadata',
        { metadata: { list: [{ a: 1 }] } },
        'Property .metadata.list must be a string, number, boolean, null, an array of those, or an object nested at most 5 levels deep',
      ],
      ['an unknown field', { nickname: 'Bobby' }, 'Property .nickname is not allowed'],
      ['a read-only field', { created_at: '2022-01-01T00:00:00.000Z' }, 'Property .created_at is not allowed'],
      ['a number for source_id', { source_id: 5 }, 'Property .source_id must be string'],
      ['a 256-character source_id', { source_id: 's'.repeat(256) }, 'Property .source_id must NOT have more than 255 characters'],
      ['a number for id', { id: 5 }, 'Property .id must be string'],
      ['an array body', [], 'The request body must be object'],
      ['a string body', 'customer', 'The request body must be object'],
    ];

    it.each(cases)('%s', async (_case, body, details) => {
      const response = await api.post('/v1/customers').send(JSON.stringify(body)).expect(400);
      expect(response.body).toEqual(invalidPayload(details));
      expectReferenceSchema('Error', response.body);
    });

    it('a request without a body', async () => {
      const response = await api.post('/v1/customers').expect(400);
      expect(response.body).toEqual(invalidPayload('The request body must be object'));
    });

    it('a body that is not JSON', async () => {
      const response = await api.post('/v1/customers').send('{"name": "Bob"').expect(400);
      expect(response.body).toEqual(invalidPayload('The request body is not valid JSON'));
    });

    it('a __proto__ key, which could poison objects', async () => {
      const response = await api.post('/v1/customers').send('{"metadata": {"__proto__": {"admin": true}}}').expect(400);
      expect(response.body).toEqual(
        invalidPayload('The request body contains a forbidden __proto__ or constructor.prototype key'),
      );
    });
  });
});

describe('POST /v1/customers with text PostgreSQL cannot store', () => {
  const unstorable = invalidPayload('The request body contains a NUL character or a lone surrogate, which cannot be stored');

  it.each([
    ['a NUL in a field', '{"name":"a\\u0000b"}'],
    ['a lone surrogate in a field', '{"name":"\\ud800"}'],
    ['a NUL in a metadata key', '{"metadata":{"a\\u0000":1}}'],
    ['a lone surrogate deep in metadata', '{"metadata":{"a":{"b":["\\udfff"]}}}'],
  ])('rejects %s', async (_case, body) => {
    const response = await api.post('/v1/customers').send(body).expect(400);
    expect(response.body).toEqual(unstorable);
  });

  it('keeps characters outside the basic plane, written as surrogate pairs', async () => {
    const response = await api.post('/v1/customers').send('{"name":"\\ud83d\\ude00"}').expect(200);
    expect(response.body.name).toBe('😀');
  });
});
