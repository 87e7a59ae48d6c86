import { afterEach, describe, expect, it } from 'vitest';
import { laneOf } from '../src/jobs/runner.js';
import { createAsyncActionStore } from '../src/jobs/store.js';
import { withTransaction } from '../src/transaction.js';
import { APP_ID, APP_SECRET, databaseKind, useTestApp } from './support/app.js';
import { finishedAction } from './support/async-actions.js';
import { lockCustomer, type CustomerLock } from './support/barriers.js';
import { unique } from './support/customers.js';
import { startWorkerProcess, type WorkerProcess } from './support/processes.js';
import { until } from './support/wait.js';

// This process only accepts: the jobs are worked on by worker processes that the tests start,
// stop and kill. Jobs expire after 3 s, so a killed worker's job is taken over within seconds.
const JOB_TIMEOUT_SECONDS = '3';
const test = useTestApp({ WORKER_ENABLED: 'false', JOB_TIMEOUT_SECONDS });

const workers: WorkerProcess[] = [];
const locks: CustomerLock[] = [];
afterEach(async () => {
  await Promise.all(locks.splice(0).map((lock) => lock.release()));
  await Promise.all(workers.splice(0).map((worker) => worker.stop('SIGKILL')));
});

/**
 * A worker process on this file's database, working on one job at a time, in batches of 20 rows,
 * an import in one lane unless a test says otherwise (one batch after another: the tests below
 * count the batches committed).
 */
async function startWorker(env: Record<string, string> = {}) {
  const worker = startWorkerProcess(test.databaseUrl, {
    WORKER_CONCURRENCY: '1',
    JOB_BATCH_SIZE: '20',
    JOB_IMPORT_LANES: '1',
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
    'SELECT status, position, lane_positions, done_count, failed_count, lease_token, claims, worker FROM async_actions WHERE id = $1',
    [id],
  );
  return rows[0];
}

/**
 * The barrier these tests hold: the customers of the input rows `first` to `first + size - 1`,
 * one batch, created beforehand, the first of them locked. A job's batches commit up to that
 * batch, whose update then waits for the test, however fast or slow the machine is. The batch
 * creates no customer, so its open transaction holds no lock another job could meet (the live
 * counts); the import updates those `size` customers.
 */
async function holdBatch(prefix: string, first: number, size: number): Promise<CustomerLock> {
  const ids: string[] = [];
  for (let row = first; row < first + size; row += 1) {
    ids.push((await test.api.post('/v1/customers', { source_id: `${prefix}-${row}` }).expect(200)).body.id);
  }
  const lock = await lockCustomer(test.databaseUrl, ids[0]!);
  locks.push(lock);
  return lock;
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
  const { rows } = await test.db.query(
    `SELECT count(*)::int AS open FROM pgboss.job WHERE name = 'async-actions' AND state < 'completed'`,
  );
  return rows[0].open;
}

/** The action's jobs, oldest first: their state, and whether a worker may take them now. */
async function jobsOf(actionId: string) {
  const { rows } = await test.db.query(
    `SELECT state::text, start_after <= now() AS available FROM pgboss.job
     WHERE name = 'async-actions' AND data ->> 'actionId' = $1 ORDER BY created_on, id`,
    [actionId],
  );
  return rows;
}

// Worker processes of their own cannot open the embedded database, which one process owns.
const embedded = databaseKind() === 'embedded';
if (embedded) console.warn('Skipping the worker-process tests: the embedded database belongs to one process.');

describe.skipIf(embedded)('async actions across worker processes', () => {
  it('keeps an accepted action queued while no worker runs, and the first worker to start takes it', async () => {
    const prefix = unique('queued');
    const id = await importRows(prefix, 10);
    // No process works on jobs: this file's app accepts only, and no worker process runs.
    expect((await test.api.get(`/v1/async-actions/${id}`).expect(200)).body).toMatchObject({ status: 'ENQUEUED', progress: 0 });
    expect(await jobsOf(id)).toEqual([{ state: 'created', available: true }]);

    await startWorker();
    expect(await finishedAction(test.api, id)).toMatchObject({ status: 'DONE', result: { done_count: 10, failed_count: 0 } });
    expect(await customersOf(prefix)).toEqual({ customers: 10, written_again: 0 });
  });

  it('after a worker is killed mid-job, shows exactly the batches it committed, and another worker finishes the job', async () => {
    const prefix = unique('killed');
    const rows = 10_000;
    const id = await importRows(prefix, rows);
    const lock = await holdBatch(prefix, 400, 20);
    const first = await startWorker();
    // The first 20 batches commit; the 21st (rows 400 to 419) waits, and is killed there.
    await lock.waiters(1);
    expect(await first.stop('SIGKILL')).toEqual({ code: null, signal: 'SIGKILL' });

    // Nothing half-applied: the committed position, the counts and the customers agree.
    expect(await actionRow(id)).toMatchObject({ status: 'IN_PROGRESS', position: 400, done_count: 400, failed_count: 0 });
    // The 400 rows imported, and the held batch's customers, not yet written by the import.
    expect(await customersOf(prefix)).toEqual({ customers: 420, written_again: 0 });
    const shown = (await test.api.get(`/v1/async-actions/${id}`).expect(200)).body;
    expect(shown).toMatchObject({ status: 'IN_PROGRESS', result: { done_count: 400, failed_count: 0, failed: [] } });
    // The share of the file the applied rows took, within a few percent.
    expect(Math.abs(shown.progress - (100 * 400) / rows)).toBeLessThanOrEqual(3);

    await lock.release();
    await startWorker();
    const action = await finishedAction(test.api, id);
    expect(action).toMatchObject({ status: 'DONE', progress: 100, result: { done_count: rows, failed_count: 0 } });
    // Each row applied once: a row applied twice would have updated its customer. Only the held
    // batch's customers, which existed before the import, were updated.
    expect(await customersOf(prefix)).toEqual({ customers: rows, written_again: 20 });
    expect((await actionRow(id)).claims).toBeGreaterThanOrEqual(2);
  });

  it('after a worker applying an import in two lanes is killed while one lane waits, resumes each lane where its last batch committed', async () => {
    const prefix = unique('lanes-killed');
    const rows = 2000;
    const sourceIdOf = (row: number) => `${prefix}-${row - 1}`;
    const id = await importRows(prefix, rows);
    // The customer of row 401, locked: its lane stops at its batch of rows 401 to 440 (two lanes
    // of 20 rows), the other lane goes on as far as the reader reads ahead.
    const lock = await holdBatch(prefix, 400, 1);
    const held = laneOf(sourceIdOf(401), 401, 2);
    const first = await startWorker({ JOB_IMPORT_LANES: '2' });
    await lock.waiters(1);
    await until(async () => (await actionRow(id)).lane_positions[1 - held] > 400, 'the other lane to pass row 400');
    expect(await first.stop('SIGKILL')).toEqual({ code: null, signal: 'SIGKILL' });

    // Exactly what the committed batches applied: every row up to 400, and the other lane's rows up to its position.
    const stopped = await actionRow(id);
    const lanes: number[] = stopped.lane_positions;
    expect(lanes[held]).toBe(400);
    const applied = Array.from({ length: rows }, (_, index) => index + 1).filter(
      (row) => row <= lanes[laneOf(sourceIdOf(row), row, 2)]!,
    );
    expect(stopped).toMatchObject({ status: 'IN_PROGRESS', position: 400, done_count: applied.length, failed_count: 0 });
    const { rows: written } = await test.db.query(
      `SELECT source_id FROM customers WHERE source_id LIKE $1 AND (name IS NOT NULL) ORDER BY source_id`,
      [`${prefix}-%`],
    );
    expect(written.map((row: { source_id: string }) => row.source_id)).toEqual(applied.map(sourceIdOf).sort());
    const shown = (await test.api.get(`/v1/async-actions/${id}`).expect(200)).body;
    expect(shown).toMatchObject({ status: 'IN_PROGRESS', result: { done_count: applied.length, failed_count: 0 } });

    await lock.release();
    // A worker set to one lane goes on in the action's two.
    await startWorker();
    expect(await finishedAction(test.api, id)).toMatchObject({ status: 'DONE', result: { done_count: rows, failed_count: 0 } });
    // Each row applied once: only the held customer, which existed before the import, was written twice.
    expect(await customersOf(prefix)).toEqual({ customers: rows, written_again: 1 });
    expect(await actionRow(id)).toMatchObject({ position: rows, lane_positions: [rows, rows], done_count: rows });
  });

  it('a worker stopped with SIGTERM ends its batch, hands the job on and exits; the next worker goes on without waiting for the job to expire', async () => {
    const prefix = unique('stopped');
    const rows = 8000;
    const id = await importRows(prefix, rows);
    const lock = await holdBatch(prefix, 200, 20);
    // Jobs expire after 10 minutes: only the hand-on can pass this job to the next worker.
    const first = await startWorker({ JOB_TIMEOUT_SECONDS: '600' });
    await lock.waiters(1);
    // Stopped in the middle of the batch of rows 200 to 219, which it finishes once the lock is gone.
    const stopped = first.stop('SIGTERM');
    await first.logged('job workers stopping');
    await lock.release();
    expect(await stopped).toEqual({ code: 0, signal: null });

    expect(await actionRow(id)).toMatchObject({ status: 'IN_PROGRESS', lease_token: null, position: 220, done_count: 220 });
    expect(await customersOf(prefix)).toEqual({ customers: 220, written_again: 20 });
    // The stopped worker's job completed as it handed on; the next one may be taken at once.
    expect(await jobsOf(id)).toEqual([
      { state: 'completed', available: true },
      { state: 'created', available: true },
    ]);

    await startWorker({ JOB_TIMEOUT_SECONDS: '600' });
    const action = await finishedAction(test.api, id);
    expect(action.result).toMatchObject({ done_count: rows, failed_count: 0 });
    expect(await customersOf(prefix)).toEqual({ customers: rows, written_again: 20 });
    expect(await openJobs()).toBe(0);
  });

  it('two workers on one queue share the jobs, and never work on the same one', async () => {
    // Long slices: each job runs in one piece, so a second claim could only come from a second worker.
    const env = { JOB_BATCH_SIZE: '10', JOB_TIMEOUT_SECONDS: '600' };
    await Promise.all([startWorker(env), startWorker(env)]);
    const prefixes = Array.from({ length: 6 }, () => unique('shared'));
    // The first job holds whichever worker takes it at its first batch, so the other worker
    // must take the rest: one job at a time each.
    const lock = await holdBatch(prefixes[0]!, 0, 10);
    const ids = [await importRows(prefixes[0]!, 600)];
    await lock.waiters(1);
    for (const prefix of prefixes.slice(1)) ids.push(await importRows(prefix, 600));
    for (const id of ids.slice(1)) await finishedAction(test.api, id);
    await lock.release();
    await finishedAction(test.api, ids[0]!);

    const claims = await Promise.all(ids.map(actionRow));
    expect(claims.map((row) => ({ claims: row.claims, done: row.done_count }))).toEqual(
      ids.map(() => ({ claims: 1, done: 600 })),
    );
    expect(new Set(claims.map((row) => row.worker)).size).toBe(2);
    expect(new Set(claims.slice(1).map((row) => row.worker))).toEqual(new Set([claims[1]!.worker]));
    expect(claims[0]!.worker).not.toBe(claims[1]!.worker);
    expect(await customersOf(prefixes[0]!)).toEqual({ customers: 600, written_again: 10 });
    for (const prefix of prefixes.slice(1)) expect(await customersOf(prefix)).toEqual({ customers: 600, written_again: 0 });
    expect(await openJobs()).toBe(0);
  });
});

describe('claims on an async action', () => {
  it('a batch can commit only under the latest claim', async () => {
    const actions = createAsyncActionStore(test.db, { reportRetentionHours: 1 });
    const id = await importRows(unique('claims'), 1);
    const now = new Date().toISOString();
    await actions.claim(id, 'first-claim', 'worker-a', now);
    await actions.claim(id, 'second-claim', 'worker-b', now);
    const progress = {
      position: 1,
      inputRead: 1,
      applied: [{ row: 1, sourceId: null, created: true }],
      failed: [],
      reported: false,
    };
    expect(await withTransaction(test.db, (tx) => actions.commitBatch(tx, id, 'first-claim', progress, now))).toBe(false);
    expect(await withTransaction(test.db, (tx) => actions.commitBatch(tx, id, 'second-claim', progress, now))).toBe(true);
    expect(await actionRow(id)).toMatchObject({ claims: 2, worker: 'worker-b', position: 1 });
  });
});
