import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { createExportStore } from '../src/exports/store.js';
import { createDownloadLinks } from '../src/signed-links.js';
import { COCKPIT_SECRET, PUBLIC_URL, useTestApp } from './support/app.js';
import { ANY_TIMESTAMP, errorBody, invalidPayload, unique } from './support/customers.js';
import { expectReferenceSchema } from './support/reference.js';
import { until } from './support/wait.js';

const test = useTestApp();
const { api } = test;

const ANY_EXPORT_ID = expect.stringMatching(/^exp_[A-Za-z0-9]{24}$/);
const ANY_EXPORT_URL = expect.stringMatching(
  /^https:\/\/customers\.example\.test\/v1\/exports\/exp_[A-Za-z0-9]{24}\?token=[\w-]{8}\.\d{13}\.[\w-]{43}$/,
);

/** Creates customers whose source_ids start with a prefix of their own, and a filter that matches just them. */
async function customersOf(prefix: string, customers: Array<Record<string, unknown>>) {
  for (const customer of customers) {
    await api.post('/v1/customers', { ...customer, source_id: `${prefix}-${customer.source_id as string}` }).expect(200);
  }
  return { source_id: { conditions: { $starts_with: [`${prefix}-`] } } };
}

/** Polls GET /v1/exports/{id} until the export is DONE or ERROR; returns its body. */
async function finishedExport(id: string): Promise<Record<string, any>> {
  let body: Record<string, any> = {};
  await until(async () => {
    body = (await api.get(`/v1/exports/${id}`).expect(200)).body;
    return body.status === 'DONE' || body.status === 'ERROR';
  }, `export ${id} to finish`);
  return body;
}

/** The download link's path and query, as a client that holds the link requests it (no API key). */
const download = (url: string) => test.raw().get(url.slice(PUBLIC_URL.length));

const exportNotFound = (id: string) =>
  errorBody(404, 'not_found', 'Resource not found', {
    details: `Cannot find export with id ${id}`,
    resource_id: id,
    resource_type: 'export',
  });

describe('POST /v1/exports', () => {
  it('schedules a customer export, which ends DONE with a link to its CSV file', async () => {
    const prefix = unique('done');
    const filters = await customersOf(prefix, [
      { source_id: 'b', name: 'Bob', email: 'bob@example.com', metadata: { tier: 'gold', score: 7 } },
      { source_id: 'a', name: 'Alice', address: { city: 'Paris', country: 'France' } },
    ]);
    // Fields of the reference's list only, so that the bodies validate against it (it lists no metadata.<key>).
    const parameters = {
      order: 'source_id',
      fields: ['source_id', 'name', 'email', 'address_city', 'orders_total_count', 'metadata'],
      filters: { junction: 'and', ...filters },
    };
    const created = await api.post('/v1/exports', { exported_object: 'customer', parameters }).expect(200);
    expect(created.body).toEqual({
      id: ANY_EXPORT_ID,
      object: 'export',
      created_at: ANY_TIMESTAMP,
      status: 'SCHEDULED',
      channel: 'API',
      exported_object: 'customer',
      parameters,
      result: null,
      user_id: null,
    });
    expectReferenceSchema('ExportCustomer', created.body, 'exports');

    const done = await finishedExport(created.body.id);
    expect(done).toEqual({ ...created.body, status: 'DONE', result: { url: ANY_EXPORT_URL } });
    expectReferenceSchema('ExportsGetResponseBody', done, 'exports');

    const file = await download(done.result.url).expect(200);
    expect(file.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(file.headers['content-disposition']).toBe(`attachment; filename="${done.id}.csv"`);
    expect(file.text).toBe(
      [
        'source_id,name,email,address_city,orders_total_count,metadata',
        `${prefix}-a,Alice,,Paris,0,{}`,
        `${prefix}-b,Bob,bob@example.com,,0,"{""tier"": ""gold"", ""score"": 7}"`,
        '',
      ].join('\n'),
    );
  });

  it('has a column per metadata.<key>: a string as itself, another value as JSON, a missing one empty', async () => {
    const prefix = unique('metadata');
    const filters = await customersOf(prefix, [
      { source_id: '1', metadata: { tier: 'gold', score: 7, tags: ['a', 'b'], address: { zip: '01-234' } } },
      { source_id: '2', metadata: { tier: 'silver' } },
    ]);
    const created = await api
      .post('/v1/exports', {
        exported_object: 'customer',
        parameters: {
          order: 'source_id',
          fields: ['source_id', 'metadata.tier', 'metadata.score', 'metadata.tags', 'metadata.address.zip'],
          filters,
        },
      })
      .expect(200);
    const file = await download((await finishedExport(created.body.id)).result.url).expect(200);
    expect(file.text).toBe(
      [
        'source_id,metadata.tier,metadata.score,metadata.tags,metadata.address.zip',
        `${prefix}-1,gold,7,"[""a"", ""b""]",01-234`,
        `${prefix}-2,silver,,,`,
        '',
      ].join('\n'),
    );
  });

  it('exports name and source_id by default, every live customer in created_at order', async () => {
    const prefix = unique('default');
    const filters = await customersOf(prefix, [
      { source_id: 'first', name: 'First' },
      { source_id: 'second', name: 'Second' },
      { source_id: 'deleted', name: 'Deleted' },
    ]);
    await api.delete(`/v1/customers/${prefix}-deleted`).expect(204);
    const created = await api.post('/v1/exports', { exported_object: 'customer', parameters: { filters } }).expect(200);
    expect(created.body.parameters).toEqual({ fields: ['name', 'source_id'], filters });
    const done = await finishedExport(created.body.id);
    const file = await download(done.result.url).expect(200);
    expect(file.text).toBe(`name,source_id\nFirst,${prefix}-first\nSecond,${prefix}-second\n`);
  });

  it('writes a header row alone when no customer matches, and takes a filter of junction alone as none', async () => {
    const created = await api
      .post('/v1/exports', {
        exported_object: 'customer',
        parameters: { fields: ['id'], filters: { junction: 'AND', email: { conditions: { $is: unique('nobody') } } } },
      })
      .expect(200);
    const file = await download((await finishedExport(created.body.id)).result.url).expect(200);
    expect(file.text).toBe('id\n');

    const everyone = await api
      .post('/v1/exports', { exported_object: 'customer', parameters: { fields: ['id'], filters: { junction: 'and' } } })
      .expect(200);
    const all = await download((await finishedExport(everyone.body.id)).result.url).expect(200);
    const { body: listed } = await api.get('/v1/customers?limit=1').expect(200);
    expect(all.text.split('\n').length - 2).toBe(listed.total);
  });

  it('neutralizes cells a spreadsheet would run as formulas, and quotes what CSV needs quoted', async () => {
    const prefix = unique('formula');
    const names = ['=HYPERLINK("http://evil.example","x")', '+1+2', '-3', '@SUM(A1)', '\tTab', '\rReturn', 'Smith, "Bob"'];
    const filters = await customersOf(
      prefix,
      names.map((name, index) => ({ source_id: String(index), name, metadata: { note: name } })),
    );
    const created = await api
      .post('/v1/exports', {
        exported_object: 'customer',
        parameters: { order: 'source_id', fields: ['name', 'metadata.note'], filters },
      })
      .expect(200);
    const file = await download((await finishedExport(created.body.id)).result.url).expect(200);
    const rows = parse(file.text, { columns: true }) as Array<Record<string, string>>;
    const escaped = names.map((name) => (/^[=+\-@\t\r]/.test(name) ? `'${name}` : name));
    expect(rows).toEqual(escaped.map((name) => ({ name, 'metadata.note': name })));
  });

  it('orders descending with customers without the value last', async () => {
    const prefix = unique('order');
    const filters = await customersOf(prefix, [
      { source_id: '1', email: 'a@example.com' },
      { source_id: '2' },
      { source_id: '3', email: 'c@example.com' },
    ]);
    const created = await api
      .post('/v1/exports', { exported_object: 'customer', parameters: { order: '-email', fields: ['source_id'], filters } })
      .expect(200);
    const file = await download((await finishedExport(created.body.id)).result.url).expect(200);
    expect(file.text).toBe(`source_id\n${prefix}-3\n${prefix}-1\n${prefix}-2\n`);
  });

  it('answers 400 for another exported_object, saying that only customers are exported here', async () => {
    const response = await api.post('/v1/exports', { exported_object: 'voucher' }).expect(400);
    expect(response.body).toEqual(
      invalidPayload('Property .exported_object must be customer: only customers are exported here, not "voucher"'),
    );
    expectReferenceSchema('Error', response.body, 'exports');
  });

  it('answers 400 naming an unknown field', async () => {
    const response = await api
      .post('/v1/exports', { exported_object: 'customer', parameters: { fields: ['name', 'shoe_size', 'metadata.'] } })
      .expect(400);
    expect(response.body).toEqual(
      errorBody(400, 'invalid_export_fields', 'Invalid Export', {
        details: expect.stringMatching(
          /^Unsupported field\(s\) in \.parameters\.fields: "shoe_size", "metadata\."\. Allowed fields: name, id, .*, metadata\.<key>$/,
        ),
      }),
    );
    expectReferenceSchema('e_400_invalid_export_fields', response.body, 'exports');
  });

  it('answers 400 for a filter the language rejects, naming where', async () => {
    const response = await api
      .post('/v1/exports', {
        exported_object: 'customer',
        parameters: { filters: { shoe_size: { conditions: { $is: '42' } } } },
      })
      .expect(400);
    expect(response.body).toEqual(
      invalidPayload(
        'Property .parameters.filters.shoe_size is not a field to filter by: use id, source_id, name, email, phone, description, created_at, updated_at, birthdate, birthday, city, address.<key> or metadata.<key>',
      ),
    );
    const operator = await api
      .post('/v1/exports', {
        exported_object: 'customer',
        parameters: { filters: { email: { conditions: { $more_than: 3 } } } },
      })
      .expect(400);
    expect(operator.body.details).toMatch(/^Property \.parameters\.filters\.email\.conditions\.\$more_than is not an operator/);
  });

  it('answers 400 for an order, a property or a body that the schema refuses', async () => {
    const order = await api.post('/v1/exports', { exported_object: 'customer', parameters: { order: 'phone' } }).expect(400);
    expect(order.body.key).toBe('invalid_payload');
    const extra = await api.post('/v1/exports', { exported_object: 'customer', colour: 'red' }).expect(400);
    expect(extra.body.key).toBe('invalid_payload');
    const missing = await api.post('/v1/exports', {}).expect(400);
    expect(missing.body.key).toBe('invalid_payload');
  });
});

describe('GET /v1/exports', () => {
  it('lists exports newest first, with the total', async () => {
    const first = await api.post('/v1/exports', { exported_object: 'customer', parameters: { fields: ['id'] } }).expect(200);
    const second = await api.post('/v1/exports', { exported_object: 'customer', parameters: { fields: ['email'] } }).expect(200);
    await finishedExport(second.body.id);
    const { body } = await api.get('/v1/exports?limit=2').expect(200);
    expectReferenceSchema('ExportsListResponseBody', body, 'exports');
    expect(body).toEqual({ object: 'list', data_ref: 'exports', exports: expect.any(Array), total: expect.any(Number) });
    expect(body.exports.map((one: { id: string }) => one.id)).toEqual([second.body.id, first.body.id]);
    const oldest = await api.get(`/v1/exports?limit=100&order=created_at`).expect(200);
    expect(oldest.body.exports.length).toBe(oldest.body.total);
    expect(oldest.body.exports.at(-1).id).toBe(second.body.id);
  });

  it('answers 400 for an unknown order', async () => {
    const response = await api.get('/v1/exports?order=name').expect(400);
    expect(response.body.key).toBe('invalid_query_params');
  });
});

describe('GET /v1/exports/:exportId', () => {
  it('answers 404 in the Error shape for an unknown export', async () => {
    const response = await api.get('/v1/exports/exp_unknown').expect(404);
    expect(response.body).toEqual(exportNotFound('exp_unknown'));
    expectReferenceSchema('Error', response.body, 'exports');
  });

  it('needs an API key without a token', async () => {
    await test.raw().get('/v1/exports/exp_unknown').expect(401);
  });

  it('answers 404 for a forged, expired or foreign link, and for a link used after DELETE', async () => {
    const created = await api.post('/v1/exports', { exported_object: 'customer', parameters: { fields: ['id'] } }).expect(200);
    const { id, result } = await finishedExport(created.body.id);
    await download(result.url).expect(200);

    const signed = createDownloadLinks(
      { publicUrl: PUBLIC_URL, secrets: { current: COCKPIT_SECRET, previous: [] } },
      'export-download-links',
      (exportId) => `/v1/exports/${exportId}`,
    );
    const expired = signed.url(id, new Date(Date.now() - 1000).toISOString());
    const otherPurpose = createDownloadLinks(
      { publicUrl: PUBLIC_URL, secrets: { current: COCKPIT_SECRET, previous: [] } },
      'async-action-report-links',
      (exportId) => `/v1/exports/${exportId}`,
    ).url(id, new Date(Date.now() + 3_600_000).toISOString());
    const forged = result.url.replace(/.{4}$/, 'AAAA');
    for (const link of [expired, otherPurpose, forged, `${PUBLIC_URL}/v1/exports/${id}?token=nonsense`]) {
      const response = await download(link).expect(404);
      expect(response.body).toEqual(exportNotFound(id));
    }

    await api.delete(`/v1/exports/${id}`).expect(204);
    const afterDelete = await download(result.url).expect(404);
    expect(afterDelete.body).toEqual(exportNotFound(id));
    expect((await api.get(`/v1/exports/${id}`).expect(404)).body).toEqual(exportNotFound(id));
  });
});

describe('files past their retention', () => {
  it('are dropped by the cleanup: the export stays, its link answers 404', async () => {
    const created = await api.post('/v1/exports', { exported_object: 'customer', parameters: { fields: ['id'] } }).expect(200);
    const done = await finishedExport(created.body.id);
    const store = createExportStore(test.db, { retentionHours: 168 });
    // The cleanup as an idle worker runs it, on a clock past the retention.
    await store.dropExpiredFiles(new Date(Date.now() + 169 * 3_600_000).toISOString(), 1000);
    const { rows } = await test.db.query('SELECT count(*)::int AS chunks FROM export_file_chunks WHERE export_id = $1', [
      done.id,
    ]);
    expect(rows[0].chunks).toBe(0);
    expect((await api.get(`/v1/exports/${done.id}`).expect(200)).body.status).toBe('DONE');
    expect((await download(done.result.url).expect(404)).body).toEqual(exportNotFound(done.id));
  });
});

describe('DELETE /v1/exports/:exportId', () => {
  it('answers 404 for an unknown export', async () => {
    const response = await api.delete('/v1/exports/exp_unknown').expect(404);
    expect(response.body).toEqual(exportNotFound('exp_unknown'));
  });

  it('takes an Idempotency-Key, as every write under /v1', async () => {
    const created = await api
      .post('/v1/exports', { exported_object: 'customer' })
      .set('Idempotency-Key', unique('key'))
      .expect(200);
    const key = unique('delete');
    await api.delete(`/v1/exports/${created.body.id}`).set('Idempotency-Key', key).expect(204);
    await api.delete(`/v1/exports/${created.body.id}`).set('Idempotency-Key', key).expect(204);
    await api.get(`/v1/exports/${created.body.id}`).expect(404);
  });
});

describe('POST /v1/exports with an Idempotency-Key', () => {
  it('answers a retry with the same export, and schedules it once', async () => {
    const key = unique('create');
    const body = { exported_object: 'customer', parameters: { fields: ['id'] } };
    const first = await api.post('/v1/exports', body).set('Idempotency-Key', key).expect(200);
    const retry = await api.post('/v1/exports', body).set('Idempotency-Key', key).expect(200);
    expect(retry.body).toEqual(first.body);
    const { rows } = await test.db.query('SELECT count(*)::int AS count FROM exports WHERE id = $1', [first.body.id]);
    expect(rows[0].count).toBe(1);
  });
});
