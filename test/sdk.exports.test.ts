import { beforeAll, describe, expect, it } from 'vitest';
import { PUBLIC_URL, useTestApp } from './support/app.js';
import { sdkClient, type SdkClient } from './support/sdk.js';
import { unique } from './support/customers.js';
import { expectReferenceSchema } from './support/reference.js';
import { until } from './support/wait.js';

const test = useTestApp();
let client: SdkClient;

beforeAll(async () => {
  client = await sdkClient(test);
});

describe('the official SDK: client.distributions.exports', () => {
  it('creates, gets, lists and deletes a customer export, every answer valid against the reference', async () => {
    const prefix = unique('sdk');
    await client.customers.create({ source_id: `${prefix}-1`, name: 'Ann', email: 'ann@example.com' });
    await client.customers.create({ source_id: `${prefix}-2`, name: 'Ben' });

    const created = await client.distributions.exports.create({
      exported_object: 'customer',
      parameters: {
        order: '-source_id',
        fields: ['source_id', 'name', 'email'],
        filters: { junction: 'AND', source_id: { conditions: { $starts_with: [`${prefix}-`] } } },
      },
    });
    expectReferenceSchema('ExportCustomer', created, 'exports');
    expect(created).toMatchObject({ object: 'export', status: 'SCHEDULED', exported_object: 'customer', result: null });

    let done = await client.distributions.exports.get(created.id);
    await until(async () => {
      done = await client.distributions.exports.get(created.id);
      return done.status === 'DONE';
    }, `export ${created.id} to be DONE`);
    expectReferenceSchema('ExportsGetResponseBody', done, 'exports');
    const file = await test.raw().get(done.result!.url.slice(PUBLIC_URL.length)).expect(200);
    expect(file.text).toBe(`source_id,name,email\n${prefix}-2,Ben,\n${prefix}-1,Ann,ann@example.com\n`);

    const listed = await client.distributions.exports.list({ limit: 10, order: '-created_at' });
    expectReferenceSchema('ExportsListResponseBody', listed, 'exports');
    expect(listed.exports.map((one) => one.id)).toContain(created.id);

    await client.distributions.exports.delete(created.id);
    await expect(client.distributions.exports.get(created.id)).rejects.toMatchObject({
      code: 404,
      key: 'not_found',
      resource_type: 'export',
    });
    await test.raw().get(done.result!.url.slice(PUBLIC_URL.length)).expect(404);
  });

  it('reports a refused export as the SDK reports any error', async () => {
    await expect(client.distributions.exports.create({ exported_object: 'voucher' })).rejects.toMatchObject({
      code: 400,
      key: 'invalid_payload',
    });
  });
});
