import { describe, expect, it } from 'vitest';
import { useTestApp } from './support/app.js';
import { ANY_TIMESTAMP, errorBody, invalidPayload, invalidQuery, unique } from './support/customers.js';

// Deliveries are tested in webhooks.delivery.test.ts: this app only stores endpoints.
const test = useTestApp({ WORKER_ENABLED: 'false' });
const { api } = test;

const ANY_WEBHOOK_ID = expect.stringMatching(/^wh_[A-Za-z0-9]{24}$/);
const ANY_SECRET = expect.stringMatching(/^whsec_[A-Za-z0-9+/]{43}=$/);
/** A public address: no name to resolve, and nothing is sent from this file. */
const PUBLIC_URL = 'https://93.184.216.34/hooks/customers';
const ALL_EVENTS = ['customer.created', 'customer.updated', 'customer.deleted'];

const webhookNotFound = (id: string) =>
  errorBody(404, 'not_found', 'Resource not found', {
    details: `Cannot find webhook with id ${id}`,
    resource_id: id,
    resource_type: 'webhook',
  });

describe('POST /v1/webhooks', () => {
  it('creates an endpoint for every event, enabled, and shows its secret', async () => {
    const response = await api.post('/v1/webhooks', { url: PUBLIC_URL }).expect(200);
    expect(response.body).toEqual({
      id: ANY_WEBHOOK_ID,
      object: 'webhook',
      url: PUBLIC_URL,
      events: ALL_EVENTS,
      enabled: true,
      description: null,
      created_at: ANY_TIMESTAMP,
      secret: ANY_SECRET,
    });
  });

  it('takes events, a description and enabled', async () => {
    const body = { url: PUBLIC_URL, events: ['customer.deleted'], description: 'CRM', enabled: false };
    const response = await api.post('/v1/webhooks', body).expect(200);
    expect(response.body).toEqual({
      id: ANY_WEBHOOK_ID,
      object: 'webhook',
      ...body,
      created_at: ANY_TIMESTAMP,
      secret: ANY_SECRET,
    });
  });

  it.each([
    [{}, 'Property .url is required'],
    [{ url: 'ftp://93.184.216.34/x' }, 'Property .url must match pattern "^https?://"'],
    [{ url: 'https://' }, 'Property .url must be an absolute http(s) URL'],
    [{ url: PUBLIC_URL, events: [] }, 'Property .events must NOT have fewer than 1 items'],
    [
      { url: PUBLIC_URL, events: ['customer.merged'] },
      'Property .events.0 must be one of: customer.created, customer.updated, customer.deleted',
    ],
    [
      { url: PUBLIC_URL, events: ['customer.created', 'customer.created'] },
      'Property .events must NOT have duplicate items (items ## 1 and 0 are identical)',
    ],
    [{ url: PUBLIC_URL, enabled: 'yes' }, 'Property .enabled must be boolean'],
    [{ url: PUBLIC_URL, secret: 'whsec_mine' }, 'Property .secret is not allowed'],
  ])('refuses %j', async (body, details) => {
    const response = await api.post('/v1/webhooks', body).expect(400);
    expect(response.body).toEqual(invalidPayload(details));
  });

  it.each([
    ['http://127.0.0.1:8080/hook', '127.0.0.1'],
    ['http://localhost/hook', expect.stringMatching(/^(127\.0\.0\.1|::1)$/)],
    ['http://169.254.169.254/latest/meta-data', '169.254.169.254'],
    ['https://10.1.2.3/hook', '10.1.2.3'],
    ['https://192.168.0.10/hook', '192.168.0.10'],
    ['https://[::1]/hook', '::1'],
    ['https://[fd00:ec2::254]/hook', 'fd00:ec2::254'],
    ['https://[::ffff:127.0.0.1]/hook', '::ffff:7f00:1'],
  ])('refuses %s: it resolves to an internal address', async (url, address) => {
    const response = await api.post('/v1/webhooks', { url }).expect(400);
    expect(response.body).toEqual(
      invalidPayload(
        expect.stringMatching(
          /^Property \.url is refused: .* resolves to .*, a loopback, private, link-local or reserved address$/,
        ),
      ),
    );
    expect(response.body.details).toContain(typeof address === 'string' ? ` resolves to ${address},` : '');
  });

  it('refuses a name that does not resolve', async () => {
    const response = await api.post('/v1/webhooks', { url: `https://${unique('nowhere')}.invalid/hook` }).expect(400);
    expect(response.body).toEqual(
      invalidPayload(expect.stringMatching(/^Property \.url is refused: .*\.invalid does not resolve to any address$/)),
    );
  });
});

describe('GET, PUT, DELETE /v1/webhooks/:id', () => {
  it('reads, lists, updates the fields sent, and deletes, never showing the secret again', async () => {
    const created = (await api.post('/v1/webhooks', { url: PUBLIC_URL, description: 'one' }).expect(200)).body;
    const { secret: _secret, ...shown } = created;
    expect((await api.get(`/v1/webhooks/${created.id}`).expect(200)).body).toEqual(shown);
    const list = (await api.get('/v1/webhooks').expect(200)).body;
    expect(list).toMatchObject({ object: 'list', data_ref: 'data', total: list.data.length });
    expect(list.data).toContainEqual(shown);
    expect(list.data.every((endpoint: Record<string, unknown>) => !('secret' in endpoint))).toBe(true);

    const updated = await api.put(`/v1/webhooks/${created.id}`, { events: ['customer.updated'], enabled: false }).expect(200);
    expect(updated.body).toEqual({ ...shown, events: ['customer.updated'], enabled: false });
    const cleared = await api
      .put(`/v1/webhooks/${created.id}`, { description: null, url: 'https://93.184.216.34/v2' })
      .expect(200);
    expect(cleared.body).toEqual({
      ...shown,
      url: 'https://93.184.216.34/v2',
      events: ['customer.updated'],
      enabled: false,
      description: null,
    });

    await api.delete(`/v1/webhooks/${created.id}`).expect(204);
    expect((await api.get(`/v1/webhooks/${created.id}`).expect(404)).body).toEqual(webhookNotFound(created.id));
    expect((await api.delete(`/v1/webhooks/${created.id}`).expect(404)).body).toEqual(webhookNotFound(created.id));
  });

  it('refuses an internal URL on update', async () => {
    const created = (await api.post('/v1/webhooks', { url: PUBLIC_URL }).expect(200)).body;
    const response = await api.put(`/v1/webhooks/${created.id}`, { url: 'http://127.0.0.1/' }).expect(400);
    expect(response.body).toEqual(
      invalidPayload(
        'Property .url is refused: 127.0.0.1 resolves to 127.0.0.1, a loopback, private, link-local or reserved address',
      ),
    );
  });

  it('answers 404 for an unknown endpoint on every route', async () => {
    const id = 'wh_000000000000000000000000';
    expect((await api.put(`/v1/webhooks/${id}`, { enabled: true }).expect(404)).body).toEqual(webhookNotFound(id));
    expect((await api.post(`/v1/webhooks/${id}/rotate-secret`).expect(404)).body).toEqual(webhookNotFound(id));
    expect((await api.get(`/v1/webhooks/${id}/deliveries`).expect(404)).body).toEqual(webhookNotFound(id));
    expect((await api.post(`/v1/webhooks/${id}/replay`, { starting_after: 'evcus_0' }).expect(404)).body).toEqual(
      webhookNotFound(id),
    );
  });
});

describe('POST /v1/webhooks/:id/rotate-secret', () => {
  it('answers a new secret once', async () => {
    const created = (await api.post('/v1/webhooks', { url: PUBLIC_URL }).expect(200)).body;
    const rotated = (await api.post(`/v1/webhooks/${created.id}/rotate-secret`).expect(200)).body;
    expect(rotated).toEqual({ ...created, secret: ANY_SECRET });
    expect(rotated.secret).not.toBe(created.secret);
  });
});

describe('GET /v1/webhooks/:id/deliveries and POST /v1/webhooks/:id/replay', () => {
  it('lists no attempts of a new endpoint, and refuses an unknown cursor', async () => {
    const created = (await api.post('/v1/webhooks', { url: PUBLIC_URL }).expect(200)).body;
    expect((await api.get(`/v1/webhooks/${created.id}/deliveries`).expect(200)).body).toEqual({
      object: 'list',
      data_ref: 'data',
      data: [],
      has_more: false,
    });
    expect((await api.get(`/v1/webhooks/${created.id}/deliveries?starting_after=whd_x`).expect(400)).body).toEqual(
      invalidQuery('Property .starting_after does not name a delivery of this webhook: whd_x'),
    );
    expect((await api.get(`/v1/webhooks/${created.id}/deliveries?limit=0`).expect(400)).body).toEqual(
      invalidQuery('Property .limit must be >= 1'),
    );
  });

  it('replays from an event of the feed, and refuses one that is not', async () => {
    const created = (await api.post('/v1/webhooks', { url: PUBLIC_URL }).expect(200)).body;
    await api.post('/v1/customers', { source_id: unique('replayed') }).expect(200);
    const [event] = (await api.get('/v1/customer-events?limit=1').expect(200)).body.data;
    const { secret: _secret, ...shown } = created;
    expect((await api.post(`/v1/webhooks/${created.id}/replay`, { starting_after: event.id }).expect(202)).body).toEqual(shown);
    expect(
      (await api.post(`/v1/webhooks/${created.id}/replay`, { starting_after: 'evcus_000000000000000000' }).expect(400)).body,
    ).toEqual(invalidPayload('Property .starting_after does not name an event of the feed: evcus_000000000000000000'));
    expect((await api.post(`/v1/webhooks/${created.id}/replay`, {}).expect(400)).body).toEqual(
      invalidPayload('Property .starting_after is required'),
    );
  });
});
