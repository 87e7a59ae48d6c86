import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { useTestApp } from './support/app.js';
import { unique } from './support/customers.js';
import { startReceiver, type Received, type WebhookReceiver } from './support/webhook-receiver.js';
import { until } from './support/wait.js';

// Deliveries read straight from the feed (src/webhooks/store.ts, READ_FEED and CLOSE_RANGES).
const test = useTestApp({ WEBHOOK_ALLOW_PRIVATE_URLS: 'true', WEBHOOK_POLL_MS: '20', RATE_LIMIT_PER_MINUTE: '0' });
const { api } = test;

const receivers: WebhookReceiver[] = [];
afterEach(async () => {
  for (const receiver of receivers.splice(0)) await receiver.close();
  await test.db.query('UPDATE webhook_endpoints SET enabled = false');
});

beforeAll(async () => {
  // Every message ever queued, as the queue's own trigger sees it.
  await test.db.query(`
    CREATE TABLE test_queued (endpoint_id text, event_id text);
    CREATE FUNCTION test_note_queued() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN INSERT INTO test_queued VALUES (NEW.endpoint_id, NEW.event_id); RETURN NEW; END $$;
    CREATE TRIGGER test_note_queued AFTER INSERT ON webhook_messages FOR EACH ROW EXECUTE FUNCTION test_note_queued();
  `);
});

async function endpointFor(answer?: Parameters<typeof startReceiver>[0]) {
  const receiver = await startReceiver(answer);
  receivers.push(receiver);
  const endpoint = (await api.post('/v1/webhooks', { url: receiver.url }).expect(200)).body;
  receiver.secret = endpoint.secret;
  return { receiver, endpoint };
}

const queuedFor = async (endpointId: string) =>
  (await test.db.query<{ event_id: string }>('SELECT event_id FROM test_queued WHERE endpoint_id = $1', [endpointId])).rows.map(
    (row) => row.event_id,
  );

const deliveriesOf = async (endpointId: string) =>
  (await api.get(`/v1/webhooks/${endpointId}/deliveries?limit=100`).expect(200)).body.data as Array<{
    event_id: string;
    attempt: number;
    status_code: number | null;
  }>;

const eventIdsOf = (received: Received[]) => received.map((request) => request.eventId);

describe('webhook deliveries straight from the feed', () => {
  it('send each event at once and queue none when every attempt is answered 2xx', async () => {
    const { receiver, endpoint } = await endpointFor();
    const customers = await Promise.all(
      Array.from(
        { length: 40 },
        async () => (await api.post('/v1/customers', { source_id: unique('direct') }).expect(200)).body.id,
      ),
    );
    await until(() => receiver.received.length >= customers.length, 'every event delivered');

    expect(new Set(receiver.received.map((request) => request.body.data.customer.id))).toEqual(new Set(customers));
    expect(receiver.received.every((request) => request.verified && request.attempt === 1)).toBe(true);
    expect(await queuedFor(endpoint.id)).toEqual([]);
    await until(async () => (await deliveriesOf(endpoint.id)).length === customers.length, 'every attempt logged');
    const log = await deliveriesOf(endpoint.id);
    expect(new Set(log.map((entry) => entry.event_id))).toEqual(new Set(eventIdsOf(receiver.received)));
    expect(log.every((entry) => entry.attempt === 1 && entry.status_code === 200)).toBe(true);
  });

  it('queue an event a slow receiver has not answered yet, so the feed moves on, and keep its customer in order', async () => {
    // The first request, and any for the same event, stall until released.
    const stalling = new Set<string>();
    const { receiver, endpoint } = await endpointFor((request) => {
      if (stalling.size === 0) stalling.add(request.eventId);
      return stalling.has(request.eventId) ? 'stall' : 200;
    });
    const slow = (await api.post('/v1/customers', { source_id: unique('slow') }).expect(200)).body.id;
    await receiver.stalled(1);
    const held = receiver.received[0]!.eventId;

    // The range that sent the held event closes while it is still in flight: the next customer's
    // event is delivered meanwhile, and the slow customer's next event waits behind the held one.
    await api.put(`/v1/customers/${slow}`, { name: 'Next' }).expect(200);
    const other = (await api.post('/v1/customers', { source_id: unique('other') }).expect(200)).body.id;
    await until(() => receiver.received.some((request) => request.body.data.customer.id === other), "the other customer's event");
    expect(
      receiver.received.filter((request) => request.body.data.customer.id === slow).map((request) => request.eventId),
    ).toEqual([held]);
    expect(await queuedFor(endpoint.id)).toContain(held);

    receiver.release();
    await until(
      () => receiver.received.filter((request) => request.body.data.customer.id === slow).length === 2,
      "the slow customer's next event",
    );
    const slowEvents = receiver.received.filter((request) => request.body.data.customer.id === slow);
    expect(slowEvents.map((request) => request.body.type)).toEqual(['customer.created', 'customer.updated']);
    expect(slowEvents.map((request) => request.attempt)).toEqual([1, 1]);
    // The held attempt's answer was recorded as its queued message's: logged once, nothing left queued.
    await until(
      async () => (await test.db.query('SELECT 1 FROM webhook_messages WHERE endpoint_id = $1', [endpoint.id])).rowCount === 0,
      'the queue to empty',
    );
    const heldLog = (await deliveriesOf(endpoint.id)).filter((entry) => entry.event_id === held);
    expect(heldLog).toMatchObject([{ attempt: 1, status_code: 200 }]);
  });
});
