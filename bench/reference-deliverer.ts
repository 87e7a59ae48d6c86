/**
 * The independent reference the webhook deliveries are measured against (bench/webhooks.ts): the
 * least a process can do to POST every new customer event to each receiver, written by hand with
 * `pg` and undici and none of the service's code. It polls the events by (created_at, id), the
 * simplest SQL (on an index the benchmark adds for it), and sends each event once to every URL,
 * signed as Standard Webhooks asks (HMAC-SHA256), at most CONCURRENCY at once, on connections kept
 * alive. It has no queue, no retries, no per-customer order, no delivery log and no durability,
 * and may skip an event that commits late: a lower bound on what delivering costs on this machine,
 * not a design. It runs at the worker's priority (WORKER_NICE, default 10).
 *
 *   DATABASE_URL=… RECEIVER_URLS=http://…,http://… node --import tsx bench/reference-deliverer.ts
 *
 * Prints "reference deliverer ready" once it has read where the events end; SIGTERM stops it.
 */
import { createHmac, randomBytes } from 'node:crypto';
import { setPriority } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { Agent, request } from 'undici';

const CONCURRENCY = 200;
const BATCH = 1000;
const POLL_MS = 20;

const urls = (process.env.RECEIVER_URLS ?? '').split(',').filter(Boolean);
const key = randomBytes(32);
setPriority(Number(process.env.WORKER_NICE ?? 10));

const db = new pg.Client({ connectionString: process.env.DATABASE_URL });
await db.connect();
const agent = new Agent({ connections: CONCURRENCY });

interface Event {
  id: string;
  type: string;
  data: unknown;
  group_id: string;
  created_at: string;
  after: string;
}

const READ = `SELECT id, type, data, group_id,
    to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS created_at, created_at::text AS after
  FROM customer_events WHERE (created_at, id) > ($1::timestamptz, $2) ORDER BY created_at, id LIMIT ${BATCH}`;

const [end] = (
  await db.query<{ after: string; id: string }>(
    'SELECT created_at::text AS after, id FROM customer_events ORDER BY created_at DESC, id DESC LIMIT 1',
  )
).rows;
let after = end?.after ?? '-infinity';
let afterId = end?.id ?? '';

let inFlight = 0;
let slotFreed: () => void = () => undefined;

async function post(url: string, event: Event) {
  const { after: _after, ...fields } = event;
  const body = JSON.stringify({ ...fields, object: 'event' });
  const timestamp = Math.floor(Date.now() / 1000).toString();
  const signature = createHmac('sha256', key).update(`${event.id}.${timestamp}.${body}`).digest('base64');
  try {
    const answer = await request(url, {
      method: 'POST',
      dispatcher: agent,
      headers: {
        'content-type': 'application/json',
        'webhook-id': event.id,
        'webhook-timestamp': timestamp,
        'webhook-signature': `v1,${signature}`,
      },
      body,
      signal: AbortSignal.timeout(10_000),
    });
    await answer.body.dump();
  } catch {
    // No retries: a lower bound.
  } finally {
    inFlight -= 1;
    slotFreed();
  }
}

let stopping = false;
process.once('SIGTERM', () => {
  stopping = true;
});
console.log('reference deliverer ready');

while (!stopping) {
  const { rows } = await db.query<Event>(READ, [after, afterId]);
  for (const event of rows) {
    for (const url of urls) {
      while (inFlight >= CONCURRENCY) await new Promise<void>((resolve) => (slotFreed = resolve));
      inFlight += 1;
      void post(url, event);
    }
    after = event.after;
    afterId = event.id;
  }
  if (rows.length < BATCH) await sleep(POLL_MS);
}
await db.end();
await agent.close();
