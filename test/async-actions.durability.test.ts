import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { createAsyncActionStore } from '../src/jobs/store.js';
import { withTransaction } from '../src/transaction.js';
import { APP_ID, APP_SECRET, databaseKind, useTestApp } from './support/app.js';
import { finishedAction } from './support/async-actions.js';
import { unique } from './support/customers.js';
import { startWorkerProcess, type WorkerProcess } from './support/processes.js';

// This process only accepts: the jobs are worked on by worker processes that the tests start,
// stop and kill. Jobs expire after 3 s, so a killed worker's job is taken over within seconds.
const JOB_TIMEOUT_SECONDS = '3';
const test = useTestApp({ WORKER_ENABLED: 'false', JOB_TIMEOUT_SECONDS });

const workers: WorkerProcess[] = [];
afterEach(async () => {
  await Promise.all(workers.splice(0).map((worker) => worker.stop('SIGKILL')));
});

/** A worker process on this file's database; small batches make a job last long enough to interrupt. */
async function startWorker(env: Record<string, string> = {}) {
  const worker = startWorkerProcess(test.databaseUrl, {
    JOB_BATCH_SIZE: '20',
    JOB_TIMEOUT_SECONDS,
    WORKER_POLL_SECONDS: '0.5',
    ...env,
  });
  workers.push(worker);
  await worker.ready();
  return worker;
}

async function importRows(prefix: string, rows: number): Promise<string> {
  const lines = Array.from({ length: rows }, (_, index) => `${prefix}-${index},Customer ${index}`);
  const response = await test
    .raw()
    .post('/v1/customers/importCSV')
    .set({ 'X-App-Id': APP_ID, 'X-App-Token': APP_SECRET })
    .attach('file', Buffer.from(`Source_id,Name\n${lines.join('\n')}\n`), 'customers.csv')
    .expect(202);
  return response.body.async_action_id;
}

async function actionRow(id: string) {
  const { rows } = await test.db.query(
    'SELECT status, position, done_count, failed_count, lease_token, claims, worker FROM async_actions WHERE id = $1',
    [id],
  );
  return rows[0];
}

/** How many customers the import wrote, and how many of them were written more than once. */
async function customersOf(prefix: string) {
  const { rows } = await test.db.query(
    `SELECT count(*)::int AS customers, count(updated_at)::int AS written_again FROM customers WHERE source_id LIKE $1`,
    [`${prefix}-%`],
  );
  return rows[0];
}

/** pg-boss jobs of the async action queue not yet completed (pg-boss's own table). */
async function openJobs(): Promise<number> {
  const { rows } = await test.db.query(`SELECT count(*)::int AS open FROM pgboss.job WHERE name = 'async-actions' AND state < 'completed'`);
  return rows[0].open;
}

async function waitUntil(condition: () => Promise<boolean>, what: string, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

// Worker processes of their own cannot open the embedded database, which one process owns.
const embedded = databaseKind() === 'embedded';
if (embedded) console.warn('Skipping the worker-process tests: the embedded database belongs to one process.');

describe.skipIf(embedded)('async actions across worker processes', () => {
  it('keeps an accepted action queued while no worker runs', async () => {
    const id = await importRows(unique('queued'), 10);
    await sleep(500);
    expect((await test.api.get(`/v1/async-actions/${id}`).expect(200)).body).toMatchObject({ status: 'ENQUEUED', progress: 0 });
  });

  it('after a worker is killed mid-job, shows exactly the batches it committed, and another worker finishes the job', async () => {
    const prefix = unique('killed');
    const rows = 10_000;
    const id = await importRows(prefix, rows);
    const first = await startWorker();
    await waitUntil(async () => (await actionRow(id)).position >= 400, 'the first batches');
    expect(await first.stop('SIGKILL')).toEqual({ code: null, signal: 'SIGKILL' });

    // Nothing half-applied: the committed position, the counts and the customers agree.
    const interrupted = await actionRow(id);
    expect(interrupted).toMatchObject({ status: 'IN_PROGRESS', failed_count: 0, done_count: interrupted.position });
    expect(interrupted.position).toBeLessThan(rows);
    expect(await customersOf(prefix)).toEqual({ customers: interrupted.position, written_again: 0 });
    const shown = (await test.api.get(`/v1/async-actions/${id}`).expect(200)).body;
    expect(shown).toMatchObject({ status: 'IN_PROGRESS', result: { done_count: interrupted.position, failed_count: 0, failed: [] } });
    // The share of the file the applied rows took, within a few percent.
    expect(Math.abs(shown.progress - (100 * interrupted.position) / rows)).toBeLessThanOrEqual(3);

    await startWorker();
    const action = await finishedAction(test.api, id, 40_000);
    expect(action).toMatchObject({ status: 'DONE', progress: 100, result: { done_count: rows, failed_count: 0 } });
    // Each row applied once: a row applied twice would have updated its customer.
    expect(await customersOf(prefix)).toEqual({ customers: rows, written_again: 0 });
    expect((await actionRow(id)).claims).toBeGreaterThanOrEqual(2);
  });

  it('a worker stopped with SIGTERM ends its batch, hands the job on and exits; the next worker goes on at once', async () => {
    const prefix = unique('stopped');
    const rows = 8000;
    const id = await importRows(prefix, rows);
    // Slices long enough that only the stop hands the job on.
    const first = await startWorker({ JOB_TIMEOUT_SECONDS: '600' });
    await waitUntil(async () => (await actionRow(id)).position >= 200, 'the first batches');
    expect(await first.stop('SIGTERM')).toEqual({ code: 0, signal: null });

    const handedOn = await actionRow(id);
    expect(handedOn).toMatchObject({ status: 'IN_PROGRESS', lease_token: null, done_count: handedOn.position });
    expect(handedOn.position % 20).toBe(0);
    expect(await customersOf(prefix)).toEqual({ customers: handedOn.position, written_again: 0 });

    const resumedAt = Date.now();
    await startWorker({ JOB_TIMEOUT_SECONDS: '600' });
    const action = await finishedAction(test.api, id, 40_000);
    expect(action.result).toMatchObject({ done_count: rows, failed_count: 0 });
    // Without the hand-on, the job would wait for its 3 s expiry and the retry delay after it.
    expect(Date.now() - resumedAt).toBeLessThan(15_000);
    expect(await customersOf(prefix)).toEqual({ customers: rows, written_again: 0 });
    // The stopped worker's job completed when it handed on, the next one when it finished.
    expect(await openJobs()).toBe(0);
  });

  it('two workers on one queue share the jobs, and never work on the same one', async () => {
    // Long slices: each job runs in one piece, so a second claim could only come from a second worker.
    const env = { JOB_BATCH_SIZE: '10', JOB_TIMEOUT_SECONDS: '600' };
    await Promise.all([startWorker(env), startWorker(env)]);
    const prefixes = Array.from({ length: 6 }, () => unique('shared'));
    const ids = [];
    for (const prefix of prefixes) ids.push(await importRows(prefix, 600));
    for (const id of ids) await finishedAction(test.api, id, 60_000);

    const claims = await Promise.all(ids.map(actionRow));
    expect(claims.map((row) => ({ claims: row.claims, done: row.done_count }))).toEqual(ids.map(() => ({ claims: 1, done: 600 })));
    expect(new Set(claims.map((row) => row.worker)).size).toBe(2);
    for (const prefix of prefixes) expect(await customersOf(prefix)).toEqual({ customers: 600, written_again: 0 });
    expect(await openJobs()).toBe(0);
  });
});

describe('claims on an async action', () => {
  it('a batch can commit only under the latest claim', async () => {
    const actions = createAsyncActionStore(test.db);
    const id = await importRows(unique('claims'), 1);
    const now = new Date().toISOString();
    await actions.claim(id, 'first-claim', 'worker-a', now);
    await actions.claim(id, 'second-claim', 'worker-b', now);
    const progress = { position: 1, inputRead: 1, done: 1, failed: [] };
    expect(await withTransaction(test.db, (tx) => actions.commitBatch(tx, id, 'first-claim', progress, now))).toBe(false);
    expect(await withTransaction(test.db, (tx) => actions.commitBatch(tx, id, 'second-claim', progress, now))).toBe(true);
    expect(await actionRow(id)).toMatchObject({ claims: 2, worker: 'worker-b', position: 1 });
  });
});
