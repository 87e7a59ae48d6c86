import type { CustomerObject } from '@voucherify/sdk';
import { beforeAll, describe, expect, it } from 'vitest';
import { useTestApp } from './support/app.js';
import { sdkClient, type SdkClient } from './support/sdk.js';
import { ANY_TIMESTAMP, customerBody, unique } from './support/customers.js';

const test = useTestApp();
let client: SdkClient;

beforeAll(async () => {
  client = await sdkClient(test);
});

describe('the official Voucherify JS SDK, unchanged', () => {
  it('creates, gets, updates, lists and deletes a customer', async () => {
    const sourceId = unique('sdk');
    const created = await client.customers.create({
      source_id: sourceId,
      name: 'Sdk User',
      email: 'sdk@example.com',
      address: { city: 'Warsaw' },
      metadata: { plan: 'pro' },
    });
    // The SDK types a create as a customer or an unconfirmed customer (double opt-in); this service confirms.
    if (created.object !== 'customer') throw new Error(`expected a customer, got ${created.object}`);
    expect(created).toEqual(
      customerBody({
        source_id: sourceId,
        name: 'Sdk User',
        email: 'sdk@example.com',
        address: { city: 'Warsaw' },
        metadata: { plan: 'pro' },
      }),
    );

    expect(await client.customers.get(created.id)).toEqual(created);
    expect(await client.customers.get(sourceId)).toEqual(created);

    const updated = await client.customers.update({ source_id: sourceId, phone: '+48 600 000 000' });
    expect(updated).toEqual({ ...created, phone: '+48 600 000 000', updated_at: ANY_TIMESTAMP });
    const updatedById = await client.customers.update({ id: created.id, name: 'Renamed' });
    expect(updatedById).toMatchObject({ id: created.id, name: 'Renamed', phone: '+48 600 000 000' });

    const listed = await client.customers.list({ email: 'sdk@example.com', limit: 5 });
    expect(listed).toMatchObject({ object: 'list', data_ref: 'customers', has_more: false });
    expect(listed.customers.map((customer) => customer.id)).toContain(created.id);

    await client.customers.delete(created.id);
    await expect(client.customers.get(created.id)).rejects.toMatchObject({
      code: 404,
      key: 'not_found',
      resource_id: created.id,
      resource_type: 'customer',
    });
  });

  it('scrolls through every customer exactly once, in both orders', async () => {
    const name = unique('scroll');
    for (let index = 0; index < 25; index += 1) await client.customers.create({ name });
    for (const order of ['created_at', '-created_at'] as const) {
      const seen: string[] = [];
      // The SDK types scroll() as a generator that expects values sent back; iterating reads only.
      const scroll = client.customers.scroll({ name, order, limit: 10 }) as AsyncIterable<CustomerObject>;
      for await (const customer of scroll) seen.push(customer.id);
      expect(seen.length).toBe(25);
      expect(new Set(seen).size).toBe(25);
    }
  });

  it('lists activity with listActivity and listActivities, and erases with deletePermanently', async () => {
    const sourceId = unique('sdk-activity');
    const created = await client.customers.create({ source_id: sourceId, name: 'Tracked' });
    if (created.object !== 'customer') throw new Error(`expected a customer, got ${created.object}`);
    await client.customers.update({ source_id: sourceId, name: 'Tracked Again' });

    const first = await client.customers.listActivity(sourceId, { limit: 1 });
    expect(first).toMatchObject({ object: 'list', data_ref: 'data', has_more: true });
    expect(first.data).toEqual([expect.objectContaining({ type: 'customer.updated', group_id: expect.stringMatching(/^v-/) })]);
    const second = await client.customers.listActivity(sourceId, { limit: 1, starting_after_id: first.more_starting_after! });
    expect(second).toMatchObject({ has_more: false, data: [expect.objectContaining({ type: 'customer.created' })] });

    const deprecated = await client.customers.listActivities(created.id, { limit: 10, order: 'created_at' });
    expect(deprecated).toMatchObject({ object: 'list', data_ref: 'data', total: 2 });

    const erased = await client.customers.deletePermanently(created.id);
    expect(erased).toMatchObject({
      related_object_id: created.id,
      status: 'DONE',
      object: 'pernament_deletion',
      data_json: { events: 2, customer_events: 2, customer: 1 },
    });
    await expect(client.customers.listActivity(created.id)).rejects.toMatchObject({ code: 404 });
  });

  it('surfaces validation errors the way the SDK reports API errors', async () => {
    await expect(client.customers.create({ email: 'not an email' })).rejects.toMatchObject({
      code: 400,
      key: 'invalid_payload',
      details: 'Property .email must be a valid email address',
    });
  });
});
