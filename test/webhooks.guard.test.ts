import { afterAll, describe, expect, it } from 'vitest';
import { useTestApp } from './support/app.js';
import { ANY_TIMESTAMP, unique } from './support/customers.js';
import { startReceiver, type WebhookReceiver } from './support/webhook-receiver.js';
import { until } from './support/wait.js';

const DISABLE_AFTER_MS = 300;
// Internal URLs refused (the default), and a short stretch of failures before an endpoint is disabled.
const test = useTestApp({
  WEBHOOK_POLL_MS: '20',
  WEBHOOK_RETRY_BASE_MS: '10',
  WEBHOOK_RETRY_MAX_MS: '50',
  WEBHOOK_DISABLE_AFTER_MS: String(DISABLE_AFTER_MS),
});
const { api } = test;

let receiver: WebhookReceiver;
afterAll(() => receiver?.close());

describe('webhook deliveries to an address turned internal', () => {
  it('are refused at each attempt (DNS is checked when connecting), then the endpoint is disabled, and the log says why', async () => {
    receiver = await startReceiver();
    // An endpoint whose URL now reaches 127.0.0.1: as if its name resolved elsewhere when it was created.
    const id = `wh_${unique('guard').replace(/-/g, '')}`;
    await test.db.query(
      `INSERT INTO webhook_endpoints (id, url, events, enabled, secret, created_at, feed_position)
       VALUES ($1, $2, ARRAY['customer.created'], true, 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', now(),
               (SELECT last_position FROM customer_event_feed))`,
      [id, receiver.url],
    );
    await api.post('/v1/customers', { source_id: unique('guarded') }).expect(200);

    await until(
      async () => (await api.get(`/v1/webhooks/${id}`).expect(200)).body.enabled === false,
      'the endpoint to be disabled',
    );
    expect(receiver.received).toEqual([]);
    const log = (await api.get(`/v1/webhooks/${id}/deliveries?limit=100`).expect(200)).body.data;
    expect(log[0]).toEqual({
      id: expect.stringMatching(/^whd_/),
      object: 'webhook_delivery',
      event_id: null,
      attempt: 0,
      status_code: null,
      error: expect.stringMatching(
        /^endpoint disabled: every delivery attempt since \d{4}-\d{2}-\d{2}T[\d:.]+Z failed, for longer than 300 ms; enable it again to resume its deliveries$/,
      ),
      duration_ms: 0,
      created_at: ANY_TIMESTAMP,
    });
    const attempts = log.slice(1);
    expect(attempts.length).toBeGreaterThan(1);
    for (const [index, attempt] of attempts.entries()) {
      expect(attempt).toMatchObject({
        attempt: attempts.length - index,
        status_code: null,
        error: '127.0.0.1 resolves to 127.0.0.1, a loopback, private, link-local or reserved address',
      });
    }
    // Disabled: new events are not even queued, nothing is attempted; enabled again, attempts resume.
    const logged = log.length;
    const queued = async () =>
      (await test.db.query<{ attempts: number }>('SELECT attempts FROM webhook_messages WHERE endpoint_id = $1', [id])).rows;
    const [before] = await queued();
    await api.post('/v1/customers', { source_id: unique('after') }).expect(200);
    await api.put(`/v1/webhooks/${id}`, { description: 'touched' }).expect(200);
    expect(await queued()).toEqual([before]);
    expect((await api.get(`/v1/webhooks/${id}/deliveries?limit=100`).expect(200)).body.data).toHaveLength(logged);
    await api.put(`/v1/webhooks/${id}`, { enabled: true }).expect(200);
    await until(
      async () => (await api.get(`/v1/webhooks/${id}/deliveries?limit=100`)).body.data.length > logged,
      'attempts to resume',
    );
    expect(receiver.received).toEqual([]);
  });

  it('are refused when connecting to a name that now resolves to an internal address', async () => {
    receiver ??= await startReceiver();
    const id = `wh_${unique('named').replace(/-/g, '')}`;
    const url = receiver.url.replace('127.0.0.1', 'localhost');
    await test.db.query(
      `INSERT INTO webhook_endpoints (id, url, events, enabled, secret, created_at, feed_position)
       VALUES ($1, $2, ARRAY['customer.created'], true, 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw', now(),
               (SELECT last_position FROM customer_event_feed))`,
      [id, url],
    );
    const received = receiver.received.length;
    await api.post('/v1/customers', { source_id: unique('named') }).expect(200);
    const firstAttempt = async () =>
      ((await api.get(`/v1/webhooks/${id}/deliveries?limit=100`).expect(200)).body.data as Array<{ attempt: number }>).find(
        (entry) => entry.attempt === 1,
      );
    await until(async () => (await firstAttempt()) !== undefined, 'a first attempt');
    expect(await firstAttempt()).toMatchObject({
      status_code: null,
      error: expect.stringMatching(
        /^localhost resolves to (127\.0\.0\.1|::1), a loopback, private, link-local or reserved address$/,
      ),
    });
    expect(receiver.received.length).toBe(received);
  });
});
