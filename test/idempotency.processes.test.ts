import { describe, expect, it } from 'vitest';
import { databaseKind, sdkHeaders, useTestApp } from './support/app.js';
import { lockCustomer } from './support/barriers.js';
import { unique } from './support/customers.js';
import { sendOnce, startLossyProxy, type Answer } from './support/lossy-proxy.js';
import { startServerProcess, useTwoServerProcesses, type TwoServerProcesses } from './support/server-process.js';
import { until } from './support/wait.js';

const test = useTestApp();
let processes: TwoServerProcesses;

const keyed = (key: string) => ({ ...sdkHeaders, 'Idempotency-Key': key });

async function count(sql: string, values: unknown[]): Promise<number> {
  const { rows } = await processes.db.query<{ count: number }>(sql, values);
  return rows[0]!.count;
}

// PGlite is one PostgreSQL session inside the process that opened it: two services cannot share it.
const embedded = databaseKind() === 'embedded';
if (embedded) console.warn('Skipping the Idempotency-Key tests across processes: the embedded database serves one process only.');

describe.skipIf(embedded)('Idempotency-Key across server processes', () => {
  processes = useTwoServerProcesses(() => test.databaseUrl);

  it('runs 50 concurrent requests with one key, split between two processes, once: the others get 409, then the stored answer', async () => {
    const created = JSON.parse((await sendOnce(processes.servers[0]!.base, 'POST', '/v1/customers', sdkHeaders, '{}')).text);
    const key = unique('shared-key');
    const put = (index: number) =>
      sendOnce(
        processes.servers[index % 2]!.base,
        'PUT',
        `/v1/customers/${created.id}`,
        keyed(key),
        JSON.stringify({ name: 'Once' }),
      );

    // The one request that takes the key waits on the customer's row lock, held by the test.
    const lock = await lockCustomer(test.databaseUrl, created.id);
    const settled: Answer[] = [];
    const during = Array.from({ length: 50 }, (_, index) => put(index).then((answer) => (settled.push(answer), answer)));
    await until(() => settled.length === 49, '49 requests to be answered while the first holds the key');
    await lock.waiters(1);
    await lock.release();
    const answers = await Promise.all(during);
    const executed = answers.filter((answer) => answer.status === 200);
    expect(executed).toHaveLength(1);
    const refused = answers.filter((answer) => answer.status === 409);
    expect(refused).toHaveLength(49);
    expect(refused.every((answer) => answer.headers['retry-after'] === '1')).toBe(true);
    expect(refused.every((answer) => JSON.parse(answer.text).key === 'idempotency_key_in_use')).toBe(true);

    const after = await Promise.all(Array.from({ length: 50 }, (_, index) => put(index)));
    expect(after.every((answer) => answer.status === 200 && answer.headers['idempotent-replayed'] === 'true')).toBe(true);
    expect(new Set(after.map((answer) => answer.text))).toEqual(new Set([executed[0]!.text]));
    expect(
      await count(`SELECT count(*)::int AS count FROM customer_events WHERE customer_id = $1 AND type = 'customer.updated'`, [
        created.id,
      ]),
    ).toBe(1);
  });

  it('answers a retry with the replay when the server was killed right after the keyed write committed', async () => {
    const victim = await startServerProcess({ DATABASE_URL: test.databaseUrl });
    const port = Number(new URL(victim.base).port);
    // The proxy holds back every answer of the victim: the client sees none of them.
    const proxy = await startLossyProxy(port, () => 'hold');
    const key = unique('crash-key');
    const tag = unique('crash');
    const body = JSON.stringify({ name: 'Survivor', metadata: { tag } });
    try {
      const lost = sendOnce(proxy.base, 'POST', '/v1/customers', keyed(key), body).then(
        () => 'answered',
        () => 'lost',
      );
      // The barrier: the stored answer is visible only once the write and it committed.
      await until(
        async () => (await count('SELECT count(*)::int AS count FROM idempotency_keys WHERE key = $1', [key])) === 1,
        'the keyed write to commit',
      );
      victim.process.kill('SIGKILL');
      expect((await victim.exited).signal).toBe('SIGKILL');
      expect(await lost).toBe('lost');
    } finally {
      await proxy.close();
    }

    const retried = await sendOnce(processes.servers[1]!.base, 'POST', '/v1/customers', keyed(key), body);
    expect(retried.status).toBe(200);
    expect(retried.headers['idempotent-replayed']).toBe('true');
    const { rows } = await processes.db.query(`SELECT id FROM customers WHERE metadata ->> 'tag' = $1`, [tag]);
    expect(rows).toEqual([{ id: JSON.parse(retried.text).id }]);
    expect(await count(`SELECT count(*)::int AS count FROM customer_events WHERE customer_id = $1`, [rows[0].id])).toBe(1);
  });
});
