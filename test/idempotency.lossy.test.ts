import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APP_ID, APP_SECRET, useTestApp } from './support/app.js';
import { everyNth, sendUntilAnswered, startLossyProxy, type LossyProxy } from './support/lossy-proxy.js';
import { unique } from './support/customers.js';
import { until } from './support/wait.js';

/**
 * Retries through a connection that loses answers: a proxy drops every 5th connection (20%)
 * after the request reached the service and before its answer reaches the client. Every request
 * is sent with its Idempotency-Key until answered, and runs exactly once.
 */
const test = useTestApp();
let proxy: LossyProxy;

const auth = { 'X-App-Id': APP_ID, 'X-App-Token': APP_SECRET };
const json = (key: string) => ({ ...auth, 'Content-Type': 'application/json', 'Idempotency-Key': key });

/** Runs `count` tasks, `concurrency` at a time. */
async function inParallel<T>(count: number, concurrency: number, task: (index: number) => Promise<T>): Promise<T[]> {
  const results: T[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const index = next++;
        results[index] = await task(index);
      }
    }),
  );
  return results;
}

async function count(sql: string, values: unknown[] = []): Promise<number> {
  const { rows } = await test.db.query<{ count: number }>(sql, values);
  return rows[0]!.count;
}

/** The customers with this metadata tag, their events, and how many of those are customer.created. */
async function tagged(tag: string) {
  const { rows } = await test.db.query(
    `SELECT (SELECT count(*)::int FROM customers WHERE metadata ->> 'tag' = $1) AS customers,
       count(e.id)::int AS events, count(e.id) FILTER (WHERE e.type = 'customer.created')::int AS created
     FROM customer_events e JOIN customers c ON c.id = e.customer_id WHERE c.metadata ->> 'tag' = $1`,
    [tag],
  );
  return rows[0];
}

/** Waits until every async action of this type is done, then answers how many there are. */
async function finishedActions(type: string): Promise<number> {
  await until(
    async () =>
      (await count(`SELECT count(*)::int AS count FROM async_actions WHERE type = $1 AND status <> 'DONE'`, [type])) === 0,
    `every ${type} action to finish`,
  );
  return count(`SELECT count(*)::int AS count FROM async_actions WHERE type = $1`, [type]);
}

/** A multipart/form-data body with the CSV in `file`, with a boundary of its own, as each try of a client has. */
function multipart(csv: string) {
  const boundary = `----lossy${randomBytes(8).toString('hex')}`;
  const body = Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="customers.csv"\r\n` +
      `Content-Type: text/csv\r\n\r\n${csv}\r\n--${boundary}--\r\n`,
  );
  return { body, contentType: `multipart/form-data; boundary=${boundary}` };
}

describe('keyed requests retried through connections that lose 20% of answers', () => {
  beforeAll(async () => {
    await test.app.listen({ host: '127.0.0.1', port: 0 });
    proxy = await startLossyProxy((test.app.server.address() as AddressInfo).port, everyNth(5));
  });

  afterAll(async () => {
    await proxy?.close();
  });

  it('1,000 creates make exactly 1,000 customers and 1,000 customer.created events', async () => {
    const tag = unique('lossy-create');
    const droppedBefore = proxy.dropped;
    const answers = await inParallel(1000, 8, (index) =>
      sendUntilAnswered(proxy.base, 'POST', '/v1/customers', () => ({
        headers: json(`${tag}-${index}`),
        body: JSON.stringify({ name: `Lossy ${index}`, metadata: { tag } }),
      })),
    );
    expect(answers.every((answer) => answer.status === 200)).toBe(true);
    expect(proxy.dropped - droppedBefore).toBeGreaterThanOrEqual(200);
    // A retried create answered with the stored answer, not a second customer.
    const replayed = answers.filter((answer) => answer.tries > 1);
    expect(replayed.length).toBeGreaterThan(0);
    expect(replayed.every((answer) => answer.headers['idempotent-replayed'] === 'true')).toBe(true);
    expect(new Set(answers.map((answer) => JSON.parse(answer.text).id)).size).toBe(1000);
    expect(await tagged(tag)).toEqual({ customers: 1000, events: 1000, created: 1000 });
  }, 300_000);

  it('100 bulk updates make 100 async actions, each queued and applied once', async () => {
    const tag = unique('lossy-bulk');
    const answers = await inParallel(100, 4, (index) =>
      sendUntilAnswered(proxy.base, 'POST', '/v1/customers/bulk/async', () => ({
        headers: json(`${tag}-${index}`),
        body: JSON.stringify([{ source_id: `${tag}-${index}`, name: 'Bulk', metadata: { tag } }]),
      })),
    );
    expect(answers.every((answer) => answer.status === 202)).toBe(true);
    const ids = answers.map((answer) => JSON.parse(answer.text).async_action_id as string);
    expect(new Set(ids).size).toBe(100);
    expect(await finishedActions('CUSTOMERS.BULK_UPDATE')).toBe(100);
    expect(await count(`SELECT count(*)::int AS count FROM pgboss.job WHERE data ->> 'actionId' = ANY($1)`, [ids])).toBe(100);
    expect(await tagged(tag)).toEqual({ customers: 100, events: 100, created: 100 });
  }, 300_000);

  it('20 CSV imports make 20 async actions, each imported once', async () => {
    const tag = unique('lossy-csv');
    const answers = await inParallel(20, 4, (index) =>
      sendUntilAnswered(proxy.base, 'POST', '/v1/customers/importCSV', () => {
        const rows = Array.from({ length: 5 }, (_, row) => `${tag}-${index}-${row},Imported,${tag}`).join('\n');
        const { body, contentType } = multipart(`Source_id,Name,tag\n${rows}\n`);
        return { headers: { ...auth, 'Content-Type': contentType, 'Idempotency-Key': `${tag}-${index}` }, body };
      }),
    );
    expect(answers.every((answer) => answer.status === 202)).toBe(true);
    const ids = answers.map((answer) => JSON.parse(answer.text).async_action_id as string);
    expect(new Set(ids).size).toBe(20);
    expect(await finishedActions('CUSTOMERS.IMPORT_CSV')).toBe(20);
    expect(await tagged(tag)).toEqual({ customers: 100, events: 100, created: 100 });
  }, 300_000);
});
