import { describe, expect, it } from 'vitest';
import { useTestApp } from './support/app.js';
import { ANY_ASYNC_ACTION_ID, ANY_REPORT, doneAction, finishedAction } from './support/async-actions.js';
import { ANY_TIMESTAMP, customerBody, errorBody, invalidPayload, unique } from './support/customers.js';
import { expectReferenceSchema } from './support/reference.js';

const { api } = useTestApp();

async function updateMetadata(body: unknown) {
  const accepted = await api.post('/v1/customers/metadata/async', body).expect(202);
  expect(accepted.body).toEqual({ async_action_id: ANY_ASYNC_ACTION_ID });
  return { accepted, action: await finishedAction(api, accepted.body.async_action_id) };
}

const metadataResult = (doneCount: number, failed: Array<{ source_id: string; row: number; reason: string }> = []) => ({
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

describe('POST /v1/customers/metadata/async', () => {
  it('merges the keys into each customer’s metadata, keeping the others, and creates the missing customers', async () => {
    const [existing, missing] = [unique('merge'), unique('missing')];
    const created = (
      await api.post('/v1/customers', { source_id: existing, name: 'Kept', metadata: { lang: 'pl', plan: 'free' } }).expect(200)
    ).body;
    const { accepted, action } = await updateMetadata({
      source_ids: [existing, missing],
      metadata: { plan: 'pro', vip: true, seats: null },
    });
    expect(action).toEqual(
      doneAction('CUSTOMERS.METADATA_UPDATE', metadataResult(2), {
        id: accepted.body.async_action_id,
        request_id: accepted.headers['x-request-id'],
      }),
    );
    expectReferenceSchema('CustomersMetadataUpdateInBulkResponseBody', accepted.body);
    expectReferenceSchema('AsyncActionResultCustomersMetadataUpdateResponseBody', action.result, 'async-actions');

    const updated = await api.get(`/v1/customers/${existing}`).expect(200);
    expect(updated.body).toEqual(
      customerBody(
        { source_id: existing, name: 'Kept', metadata: { lang: 'pl', plan: 'pro', vip: true, seats: null } },
        { id: created.id, createdAt: created.created_at, updatedAt: ANY_TIMESTAMP },
      ),
    );
    const createdNow = await api.get(`/v1/customers/${missing}`).expect(200);
    expect(createdNow.body).toEqual(customerBody({ source_id: missing, metadata: { plan: 'pro', vip: true, seats: null } }));
  });

  it('fails a customer whose merged metadata would break the limits, and a source_id that is not one', async () => {
    const [full, fine] = [unique('full'), unique('fine')];
    const hundredKeys = Object.fromEntries(Array.from({ length: 100 }, (_, index) => [`key_${index}`, index]));
    await api.post('/v1/customers', { source_id: full, metadata: hundredKeys }).expect(200);
    const { action } = await updateMetadata({ source_ids: [full, fine, '', 'x'.repeat(256), 7], metadata: { one_more: 1 } });
    expect(action.result).toEqual(
      metadataResult(1, [
        { source_id: full, row: 1, reason: 'Property .metadata must NOT have more than 100 properties' },
        { source_id: '', row: 3, reason: 'The source_id must NOT have fewer than 1 characters' },
        { source_id: 'x'.repeat(256), row: 4, reason: 'The source_id must NOT have more than 255 characters' },
        { source_id: '', row: 5, reason: 'The source_id must be string' },
      ]),
    );
    expect((await api.get(`/v1/customers/${full}`).expect(200)).body.metadata).toEqual(hundredKeys);
    expect((await api.get(`/v1/customers/${fine}`).expect(200)).body.metadata).toEqual({ one_more: 1 });
  });

  it('applies a source_id listed twice twice, with one customer in the end', async () => {
    const sourceId = unique('twice');
    const { action } = await updateMetadata({ source_ids: [sourceId, sourceId], metadata: { a: 1 } });
    expect(action.result).toEqual(metadataResult(2));
    const customer = await api.get(`/v1/customers/${sourceId}`).expect(200);
    expect(customer.body).toEqual(customerBody({ source_id: sourceId, metadata: { a: 1 } }, { updatedAt: ANY_TIMESTAMP }));
  });

  it.each([
    ['no source_ids', { metadata: { a: 1 } }, 'Property .source_ids is required'],
    ['no metadata', { source_ids: ['a'] }, 'Property .metadata is required'],
    ['empty source_ids', { source_ids: [], metadata: { a: 1 } }, 'Property .source_ids must NOT have fewer than 1 items'],
    ['source_ids not an array', { source_ids: 'a', metadata: { a: 1 } }, 'Property .source_ids must be array'],
    ['null metadata', { source_ids: ['a'], metadata: null }, 'Property .metadata must be object'],
    [
      'metadata over 100 keys',
      { source_ids: ['a'], metadata: Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`k${i}`, i])) },
      'Property .metadata must NOT have more than 100 properties',
    ],
    ['an unknown property', { source_ids: ['a'], metadata: { a: 1 }, mode: 'replace' }, 'Property .mode is not allowed'],
  ])('answers 400 to %s', async (_case, body, details) => {
    const response = await api.post('/v1/customers/metadata/async', body).expect(400);
    expect(response.body).toEqual(invalidPayload(details));
  });

  it('answers 413 to a body over 10 MiB', async () => {
    const body = JSON.stringify({ source_ids: ['s'.repeat(10 * 1024 * 1024)], metadata: {} });
    const response = await api.post('/v1/customers/metadata/async').send(body).expect(413);
    expect(response.body).toEqual(
      errorBody(413, 'payload_too_large', 'Payload too large', { details: 'Request body is too large' }),
    );
  });
});
