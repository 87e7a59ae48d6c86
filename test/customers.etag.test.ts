import { describe, expect, it } from 'vitest';
import { useTestApp } from './support/app.js';
import { customerNotFound, errorBody, unique } from './support/customers.js';

const test = useTestApp();
const { api } = test;

const ETAG = /^"cust_[A-Za-z0-9]{24}\.[0-9a-z]+\.[0-9a-z]+"$/;

const preconditionFailed = (id: string) =>
  errorBody(412, 'precondition_failed', 'Precondition failed', {
    details: 'The customer changed since the version named by If-Match: read it again',
    resource_id: id,
    resource_type: 'customer',
  });

async function createCustomer(body: Record<string, unknown> = {}) {
  const created = await api.post('/v1/customers', body).expect(200);
  return { id: created.body.id as string, etag: created.headers.etag as string };
}

describe('ETags of customers', () => {
  it('tags POST, GET and PUT answers with the version they show, a new one after each change', async () => {
    const sourceId = unique('etag');
    const { id, etag: created } = await createCustomer({ source_id: sourceId });
    expect(created).toMatch(ETAG);
    expect((await api.get(`/v1/customers/${id}`).expect(200)).headers.etag).toBe(created);
    expect((await api.get(`/v1/customers/${sourceId}`).expect(200)).headers.etag).toBe(created);

    const updated = (await api.put(`/v1/customers/${id}`, { name: 'Changed' }).expect(200)).headers.etag;
    expect(updated).toMatch(ETAG);
    expect(updated).not.toBe(created);
    expect((await api.get(`/v1/customers/${id}`).expect(200)).headers.etag).toBe(updated);

    // An upsert by source_id and a bulk write change the version too.
    const upserted = (await api.post('/v1/customers', { source_id: sourceId, name: 'Again' }).expect(200)).headers.etag;
    expect(upserted).not.toBe(updated);
    expect((await api.get(`/v1/customers/${id}`).expect(200)).headers.etag).toBe(upserted);
  });

  it('answers GET with If-None-Match naming the current version 304, without a body', async () => {
    const { id, etag } = await createCustomer();
    for (const header of [etag, `W/${etag}`, `"other.1", ${etag}`, '*']) {
      const response = await api.get(`/v1/customers/${id}`).set('If-None-Match', header).expect(304);
      expect(response.text).toBe('');
      expect(response.headers.etag).toBe(etag);
    }
    await api.put(`/v1/customers/${id}`, { name: 'Changed' }).expect(200);
    const changed = await api.get(`/v1/customers/${id}`).set('If-None-Match', etag).expect(200);
    expect(changed.body.name).toBe('Changed');
  });

  it('names the cockpit link too, so a cache holding a link that is being replaced gets the new one, not a 304', async () => {
    const { id } = await createCustomer();
    // The tag's parts: id, stored version, the link's expiry.
    const read = async () => {
      const response = await api.get(`/v1/customers/${id}`).expect(200);
      const [, version, linkExpiry] = (response.headers.etag as string).slice(1, -1).split('.');
      return { customer: response.body, version: version!, linkExpiry: parseInt(linkExpiry!, 36) };
    };
    const { customer, linkExpiry } = await read();
    expect(linkExpiry).toBe(Number(new URL(customer.assets.cockpit_url).searchParams.get('token')!.split('.')[1]));

    // The stored version shown with yesterday's link, and as tagged before links expired.
    const tags = [
      (version: string) => `"${id}.${version}.${(linkExpiry - 86_400_000).toString(36)}"`,
      (version: string) => `"${id}.${version}"`,
    ];
    for (const [index, tagOf] of tags.entries()) {
      const current = await read();
      const tag = tagOf(current.version);
      expect((await api.get(`/v1/customers/${id}`).set('If-None-Match', tag).expect(200)).body).toEqual(current.customer);
      // If-Match compares the stored version alone: the tag still names the version it was read at.
      await api
        .put(`/v1/customers/${id}`, { name: `Renamed ${index}` })
        .set('If-Match', tag)
        .expect(200);
      await api.put(`/v1/customers/${id}`, { name: 'Lost' }).set('If-Match', tag).expect(412);
    }
  });

  it('answers GET with If-None-Match of a missing customer 404', async () => {
    const missing = unique('missing');
    expect((await api.get(`/v1/customers/${missing}`).set('If-None-Match', '*').expect(404)).body).toEqual(
      customerNotFound(missing),
    );
  });

  it('applies a PUT with If-Match naming the current version, and refuses a stale one with 412, changing nothing', async () => {
    const { id, etag } = await createCustomer({ name: 'First' });
    const applied = await api.put(`/v1/customers/${id}`, { name: 'Second' }).set('If-Match', etag).expect(200);
    const stale = await api.put(`/v1/customers/${id}`, { email: 'lost@example.com' }).set('If-Match', etag).expect(412);
    expect(stale.body).toEqual(preconditionFailed(id));
    expect(stale.headers.etag).toBeUndefined();
    const now = await api.get(`/v1/customers/${id}`).expect(200);
    expect(now.body.email).toBeUndefined();
    expect(now.headers.etag).toBe(applied.headers.etag);
    // One of several tags naming the current version is enough.
    await api.put(`/v1/customers/${id}`, { name: 'Third' }).set('If-Match', `${etag}, ${applied.headers.etag}`).expect(200);
  });

  it('refuses a PUT whose If-Match names no version it could be (weak, malformed, another customer) with 412', async () => {
    const { id, etag } = await createCustomer();
    const other = await createCustomer();
    for (const header of [`W/${etag}`, 'not-a-tag', '"x"', other.etag]) {
      expect((await api.put(`/v1/customers/${id}`, { name: 'X' }).set('If-Match', header).expect(412)).body).toEqual(
        preconditionFailed(id),
      );
    }
  });

  it('takes If-Match: * as any version of an existing customer; a missing one stays 404', async () => {
    const { id } = await createCustomer();
    await api.put(`/v1/customers/${id}`, { name: 'Any' }).set('If-Match', '*').expect(200);
    const missing = unique('missing');
    expect((await api.put(`/v1/customers/${missing}`, { name: 'X' }).set('If-Match', '*').expect(404)).body).toEqual(
      customerNotFound(missing),
    );
    expect((await api.delete(`/v1/customers/${missing}`).set('If-Match', '"cust_x.1"').expect(404)).body).toEqual(
      customerNotFound(missing),
    );
  });

  it('deletes with If-Match only the version it names', async () => {
    const { id, etag } = await createCustomer();
    await api.put(`/v1/customers/${id}`, { name: 'Changed' }).expect(200);
    expect((await api.delete(`/v1/customers/${id}`).set('If-Match', etag).expect(412)).body).toEqual(preconditionFailed(id));
    const current = (await api.get(`/v1/customers/${id}`).expect(200)).headers.etag as string;
    await api.delete(`/v1/customers/${id}`).set('If-Match', current).expect(204);
    await api.get(`/v1/customers/${id}`).expect(404);
  });

  it('loses no field when two writers race with If-Match, 500 times: one 412 per conflict', async () => {
    const { id } = await createCustomer();
    let conflicts = 0;
    // Each writer reads, then writes its own field with If-Match; on 412 it reads again and retries.
    const write = async (field: 'name' | 'email', value: string, etag: string) => {
      let tag = etag;
      for (;;) {
        const response = await api.put(`/v1/customers/${id}`, { [field]: value }).set('If-Match', tag);
        if (response.status === 200) return;
        expect(response.status).toBe(412);
        conflicts += 1;
        tag = (await api.get(`/v1/customers/${id}`).expect(200)).headers.etag as string;
      }
    };
    for (let round = 0; round < 500; round += 1) {
      const [a, b] = await Promise.all([api.get(`/v1/customers/${id}`), api.get(`/v1/customers/${id}`)]);
      const before = conflicts;
      await Promise.all([
        write('name', `name-${round}`, a.headers.etag as string),
        write('email', `${round}@example.com`, b.headers.etag as string),
      ]);
      // Both read the same version: exactly one of the two writes found it changed.
      expect(b.headers.etag).toBe(a.headers.etag);
      expect(conflicts - before).toBe(1);
      const after = (await api.get(`/v1/customers/${id}`).expect(200)).body;
      expect([after.name, after.email]).toEqual([`name-${round}`, `${round}@example.com`]);
    }
    expect(conflicts).toBe(500);
  }, 300_000);
});
