import { afterAll, describe, expect, it } from 'vitest';
import { databaseKind, useTestApp } from './support/app.js';
import { unique } from './support/customers.js';
import { startWorkerProcess, type WorkerProcess } from './support/processes.js';
import { startReceiver, type WebhookReceiver } from './support/webhook-receiver.js';
import { until } from './support/wait.js';

// This process only writes: deliveries run in `npm run worker` processes.
const test = useTestApp({ WORKER_ENABLED: 'false', RATE_LIMIT_PER_MINUTE: '0', WEBHOOK_ALLOW_PRIVATE_URLS: 'true' });
const { api } = test;
const WORKER_ENV = {
  WEBHOOK_ALLOW_PRIVATE_URLS: 'true',
  WEBHOOK_POLL_MS: '20',
  WEBHOOK_RETRY_BASE_MS: '10',
  WEBHOOK_RETRY_MAX_MS: '100',
  // A killed worker's claims run out after 2 × 500 ms + 1 s.
  WEBHOOK_TIMEOUT_MS: '500',
};

const embedded = databaseKind() === 'embedded';
if (embedded) console.warn('Skipping the killed-worker test: the embedded database serves one process only.');

const workers: WorkerProcess[] = [];
let receiver: WebhookReceiver | undefined;
afterAll(async () => {
  for (const worker of workers) await worker.stop('SIGKILL');
  await receiver?.close();
});

describe.skipIf(embedded)('webhook deliveries when a worker is killed', () => {
  it('lose nothing: another worker delivers every event, the one in flight again, each customer in order', async () => {
    // The first request stalls: the worker is killed while it waits for the answer.
    receiver = await startReceiver(() => (receiver!.received.length === 0 ? 'stall' : 200));
    const endpoint = (await api.post('/v1/webhooks', { url: receiver.url }).expect(200)).body;
    receiver.secret = endpoint.secret;

    const first = startWorkerProcess(test.databaseUrl, WORKER_ENV);
    workers.push(first);
    await first.ready();
    // A worker process yields the CPU to servers' requests (WORKER_NICE, default 10).
    expect(await first.nice()).toBe(10);
    const customers = await Promise.all(
      Array.from(
        { length: 50 },
        async () => (await api.post('/v1/customers', { source_id: unique('killed') }).expect(200)).body.id as string,
      ),
    );
    await receiver.stalled();
    const write = (round: number) =>
      Promise.all(customers.map((id) => api.put(`/v1/customers/${id}`, { metadata: { round } }).expect(200)));
    await write(1);
    expect(await first.stop('SIGKILL')).toEqual({ code: null, signal: 'SIGKILL' });
    const beforeKill = receiver.received.length;
    // Written with no worker running.
    await write(2);
    await write(3);

    const second = startWorkerProcess(test.databaseUrl, WORKER_ENV);
    workers.push(second);
    const { rows: events } = await test.db.query<{ id: string; customer_id: string }>(
      'SELECT id, customer_id FROM customer_events WHERE customer_id = ANY($1) ORDER BY created_at, id',
      [customers],
    );
    expect(events).toHaveLength(200);
    const answered = () =>
      new Set(receiver!.received.filter((request) => request.answer === 200).map((request) => request.eventId));
    await until(() => events.every((event) => answered().has(event.id)), 'every event delivered by the second worker');

    const stalled = receiver.received[0]!;
    expect(receiver.received.filter((request) => request.eventId === stalled.eventId).map((request) => request.answer)).toEqual([
      'stall',
      200,
    ]);
    expect(receiver.received.length).toBeGreaterThan(beforeKill);
    expect(receiver.received.every((request) => request.verified)).toBe(true);
    // Each customer's arrivals follow its events: a repeat at most, never one ahead.
    const order = new Map(events.map((event, index) => [event.id, index]));
    const arrivals = new Map<string, number[]>();
    for (const request of receiver.received) {
      const customerId = request.body.data.customer.id;
      arrivals.set(customerId, [...(arrivals.get(customerId) ?? []), order.get(request.eventId)!]);
    }
    for (const positions of arrivals.values()) expect(positions).toEqual([...positions].sort((a, b) => a - b));
  });
});
