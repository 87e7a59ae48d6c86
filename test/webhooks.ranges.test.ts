import { beforeEach, describe, expect, it } from 'vitest';
import { createWebhookStore, type FeedRange, type SentFromFeed } from '../src/webhooks/store.js';
import { useTestApp } from './support/app.js';
import { unique } from './support/customers.js';

// No worker: this test drives a range's reading and closing itself (READ_FEED, CLOSE_RANGES).
const test = useTestApp({ WORKER_ENABLED: 'false', WEBHOOK_ALLOW_PRIVATE_URLS: 'true', RATE_LIMIT_PER_MINUTE: '0' });
const { api } = test;

const LEASE_MS = 60_000;
const RULES = [86_400_000, 'whd_test'] as const;

let endpointId: string;
/** A new endpoint, the only one: it follows the feed from its end. */
async function newEndpoint() {
  await test.db.query('DELETE FROM webhook_endpoints');
  endpointId = (await api.post('/v1/webhooks', { url: 'http://127.0.0.1:9/hook' }).expect(200)).body.id;
}
beforeEach(newEndpoint);

const store = () => createWebhookStore(test.db);

/** A customer created, then updated `updates` times: its id and its events in order. */
async function customerWithEvents(updates = 0) {
  const id = (await api.post('/v1/customers', { source_id: unique('ranged') }).expect(200)).body.id as string;
  for (let update = 0; update < updates; update += 1) await api.put(`/v1/customers/${id}`, { name: `v${update}` }).expect(200);
  await api.get('/v1/customer-events?limit=1').expect(200); // numbers them in the feed
  const { rows } = await test.db.query<{ id: string }>(
    'SELECT id FROM customer_events WHERE customer_id = $1 ORDER BY position',
    [id],
  );
  return { id, events: rows.map((row) => row.id) };
}

const read = (lease: string, free = 100) => store().round({ readLimit: 100, free, leaseMs: LEASE_MS, lease }, ...RULES);

const close = (range: FeedRange, sent: SentFromFeed[]) =>
  store().round({ ranges: [{ ...range, sent }], leaseMs: LEASE_MS, lease: 'unused' }, ...RULES);

const queued = async () =>
  (
    await test.db.query<{ event_id: string; attempts: number; due: boolean; leased: boolean }>(
      `SELECT event_id, attempts, next_attempt_at IS NOT NULL AS due, lease_until IS NOT NULL AS leased
       FROM webhook_messages WHERE endpoint_id = $1 ORDER BY position`,
      [endpointId],
    )
  ).rows;

const endpoint = async () =>
  (
    await test.db.query<{ feed_position: string; feed_lease: string | null; last: string }>(
      `SELECT feed_position::text, feed_lease, (SELECT last_position::text FROM customer_event_feed) AS last
       FROM webhook_endpoints WHERE id = $1`,
      [endpointId],
    )
  ).rows[0]!;

describe('a range of the feed read for an endpoint, and its closing', () => {
  it("sends each customer's first event at once, and on closing queues only what was not delivered", async () => {
    const delivered = await customerWithEvents(1);
    const failed = await customerWithEvents();
    const inFlight = await customerWithEvents();

    const { ranges, fromFeed } = await read('first-lease');
    expect(ranges).toHaveLength(1);
    expect((await endpoint()).feed_lease).toBe('first-lease');
    // Each customer's first event only: the update waits for the create before it.
    expect(fromFeed.map((message) => message.event.id)).toEqual([delivered.events[0], failed.events[0], inFlight.events[0]]);
    // Held by its lease: another worker reads nothing of it.
    expect((await read('second-lease')).ranges).toEqual([]);

    const { queuedInFlight } = await close(ranges[0]!, [
      { eventId: delivered.events[0]!, state: 'delivered', retryInMs: 0 },
      { eventId: failed.events[0]!, state: 'failed', retryInMs: 60_000 },
      { eventId: inFlight.events[0]!, state: 'in-flight', retryInMs: 0 },
    ]);
    expect(queuedInFlight).toEqual([{ endpoint_id: endpointId, event_id: inFlight.events[0] }]);
    expect(await queued()).toEqual([
      // The delivered create's update: now its chain's head, due.
      { event_id: delivered.events[1], attempts: 0, due: true, leased: false },
      // A failed first attempt: due after its backoff, its attempt counted.
      { event_id: failed.events[0], attempts: 1, due: true, leased: false },
      // Still in flight: queued under the range's lease, its attempt counted.
      { event_id: inFlight.events[0], attempts: 1, due: true, leased: true },
    ]);
    const { rows: dueSoon } = await test.db.query(
      `SELECT 1 FROM webhook_messages WHERE event_id = $1 AND next_attempt_at > now() + interval '50 seconds'`,
      [failed.events[0]],
    );
    expect(dueSoon).toHaveLength(1);
    const after = await endpoint();
    expect(after).toEqual({ feed_position: after.last, feed_lease: null, last: after.last });
  });

  it('counts nothing sent as delivered when a replay moved the position back meanwhile', async () => {
    const earlier = await customerWithEvents(1);
    await newEndpoint();
    const first = await customerWithEvents();
    const { ranges, fromFeed } = await read('a-lease');
    expect(fromFeed.map((message) => message.event.id)).toEqual(first.events);

    // Delivered, but meanwhile a replay asked for everything after the earlier customer's create.
    await api.post(`/v1/webhooks/${endpointId}/replay`, { starting_after: earlier.events[0] }).expect(202);
    const { queuedInFlight } = await close(ranges[0]!, [{ eventId: first.events[0]!, state: 'delivered', retryInMs: 0 }]);
    expect(queuedInFlight).toEqual([]);
    expect(await queued()).toEqual([
      { event_id: earlier.events[1], attempts: 0, due: true, leased: false },
      { event_id: first.events[0], attempts: 0, due: true, leased: false },
    ]);
  });

  it('leaves a range alone to a closing that no longer holds its lease', async () => {
    await customerWithEvents();
    const { ranges } = await read('old-lease');
    await test.db.query(`UPDATE webhook_endpoints SET feed_lease = 'new-lease' WHERE id = $1`, [endpointId]);
    const before = await endpoint();

    const { queuedInFlight } = await close(ranges[0]!, []);
    expect(queuedInFlight).toEqual([]);
    expect(await queued()).toEqual([]);
    expect(await endpoint()).toEqual(before);
  });
});
