import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { PUBLIC_URL, databaseKind, useTestApp } from './support/app.js';
import { errorBody, unique } from './support/customers.js';
import { startWorkerProcess, type WorkerProcess } from './support/processes.js';
import { seedCustomers } from './support/seed.js';
import { until } from './support/wait.js';

// This process only accepts: exports are written by worker processes that the tests start and
// kill. Export jobs expire after 3 s, so a killed worker's export is restarted within seconds.
const EXPORT_TIMEOUT_SECONDS = '3';
const MAX_PENDING = 25;
const test = useTestApp({ WORKER_ENABLED: 'false', EXPORT_TIMEOUT_SECONDS, EXPORT_MAX_PENDING: String(MAX_PENDING) });
const { api } = test;

const workers: WorkerProcess[] = [];
const holders: pg.Client[] = [];
afterEach(async () => {
  await Promise.all(holders.splice(0).map((holder) => holder.end()));
  await Promise.all(workers.splice(0).map((worker) => worker.stop('SIGKILL')));
});

async function startWorker() {
  const worker = startWorkerProcess(test.databaseUrl, {
    WORKER_CONCURRENCY: '1',
    WORKER_POLL_SECONDS: '0.5',
    JOB_TIMEOUT_SECONDS: '3',
    EXPORT_TIMEOUT_SECONDS,
  });
  workers.push(worker);
  await worker.ready();
  return worker;
}

async function exportRow(id: string) {
  const { rows } = await test.db.query(
    'SELECT status, claims, row_count, chunk_count, (SELECT count(*)::int FROM export_file_chunks WHERE export_id = $1) AS stored FROM exports WHERE id = $1',
    [id],
  );
  return rows[0];
}

/**
 * The barrier: chunk `seq` of the export, inserted by the test in a transaction it keeps open.
 * The worker's insert of the same chunk waits on it, so the worker stops at that chunk of its
 * file, however fast or slow the machine is.
 */
async function holdChunk(exportId: string, seq: number): Promise<pg.Client> {
  const holder = new pg.Client({ connectionString: test.databaseUrl });
  await holder.connect();
  holders.push(holder);
  await holder.query('BEGIN');
  await holder.query('INSERT INTO export_file_chunks (export_id, seq, data) VALUES ($1, $2, $3)', [
    exportId,
    seq,
    Buffer.alloc(1),
  ]);
  return holder;
}

/** Sessions waiting to insert chunks that the holder's transaction holds. */
async function waitersOn(holder: pg.Client): Promise<number> {
  const { rows } = await holder.query(
    'SELECT count(*)::int AS count FROM pg_locks WHERE NOT granted AND pg_backend_pid() = ANY(pg_blocking_pids(pid))',
  );
  return rows[0].count;
}

// Worker processes of their own cannot open the embedded database, which one process owns.
const embedded = databaseKind() === 'embedded';

describe.skipIf(embedded)('exports across worker processes', () => {
  it('after a worker is killed mid-file, marks nothing DONE, and another worker writes the whole file again', async () => {
    const prefix = unique('killed');
    const rows = 6000;
    // About 3 MiB of CSV: the file is a few chunks, and the worker is stopped at the second.
    await seedCustomers(
      test.db,
      Array.from({ length: rows }, (_, index) => ({
        created_at: new Date(Date.UTC(2026, 0, 1) + index).toISOString(),
        source_id: `${prefix}-${String(index).padStart(5, '0')}`,
        name: 'x'.repeat(500),
      })),
    );
    const filters = { source_id: { conditions: { $starts_with: [`${prefix}-`] } } };
    const created = await api
      .post('/v1/exports', { exported_object: 'customer', parameters: { fields: ['source_id', 'name'], filters } })
      .expect(200);
    const { id } = created.body;
    const holder = await holdChunk(id, 1);

    const first = await startWorker();
    await until(async () => (await waitersOn(holder)) > 0, 'the worker to reach the held chunk');
    expect((await api.get(`/v1/exports/${id}`).expect(200)).body).toMatchObject({ status: 'IN_PROGRESS', result: null });
    await first.stop('SIGKILL');
    await holder.query('ROLLBACK');

    // Nothing of the killed worker's file is stored, and nothing is DONE.
    await until(async () => (await exportRow(id)).stored === 0, "the killed worker's transaction to end");
    expect(await exportRow(id)).toMatchObject({ status: 'IN_PROGRESS', claims: 1, row_count: null });

    await startWorker();
    let body: Record<string, any> = {};
    await until(async () => {
      body = (await api.get(`/v1/exports/${id}`).expect(200)).body;
      return body.status === 'DONE';
    }, `export ${id} to be written again`);
    const file = await test.raw().get(body.result.url.slice(PUBLIC_URL.length)).expect(200);
    const chunks = Math.ceil(Buffer.byteLength(file.text) / (1024 * 1024));
    expect(await exportRow(id)).toMatchObject({
      status: 'DONE',
      claims: 2,
      row_count: rows,
      chunk_count: chunks,
      stored: chunks,
    });
    const lines = file.text.split('\n');
    expect(lines.length).toBe(rows + 2);
    expect(lines[0]).toBe('source_id,name');
    expect(lines.slice(1, -1)).toEqual(
      Array.from({ length: rows }, (_, index) => `${prefix}-${String(index).padStart(5, '0')},${'x'.repeat(500)}`),
    );
  });
});

describe.skipIf(embedded)('exports deleted before a worker takes them', () => {
  it('leave their job nothing to do: it completes without writing a file', async () => {
    const created = await api.post('/v1/exports', { exported_object: 'customer' }).expect(200);
    await api.delete(`/v1/exports/${created.body.id}`).expect(204);
    await startWorker();
    await until(async () => {
      const { rows } = await test.db.query(
        `SELECT state::text FROM pgboss.job WHERE name = 'async-actions' AND data ->> 'exportId' = $1`,
        [created.body.id],
      );
      return rows[0]?.state === 'completed';
    }, "the deleted export's job to complete");
    const { rows } = await test.db.query('SELECT count(*)::int AS chunks FROM export_file_chunks WHERE export_id = $1', [
      created.body.id,
    ]);
    expect(rows[0].chunks).toBe(0);
  });
});

describe('1,000 exports requested at once', () => {
  it(`queues ${MAX_PENDING} and refuses the rest with 429, and the service keeps answering`, async () => {
    // No worker runs in this process: what is accepted stays queued.
    const statuses: number[] = [];
    let refusal: Record<string, unknown> | undefined;
    let retryAfter: string | undefined;
    const requests = Array.from({ length: 1000 }, () => () => api.post('/v1/exports', { exported_object: 'customer' }));
    // 50 clients at a time, each sending its next request as soon as one is answered.
    await Promise.all(
      Array.from({ length: 50 }, async () => {
        for (let send = requests.pop(); send; send = requests.pop()) {
          const response = await send();
          statuses.push(response.status);
          if (response.status === 429) {
            refusal = response.body;
            retryAfter = response.headers['retry-after'];
          }
        }
      }),
    );
    expect(statuses.filter((status) => status === 200).length).toBe(MAX_PENDING);
    expect(statuses.filter((status) => status === 429).length).toBe(1000 - MAX_PENDING);
    expect(refusal).toEqual(
      errorBody(429, 'too_many_requests', 'Too many requests', {
        details: `${MAX_PENDING} exports are already scheduled or in progress: try again once one is done`,
      }),
    );
    expect(retryAfter).toBe('30');

    const { rows } = await test.db.query(
      `SELECT count(*)::int AS jobs FROM pgboss.job WHERE name = 'async-actions' AND data ? 'exportId' AND state = 'created'`,
    );
    expect(rows[0].jobs).toBe(MAX_PENDING);
    const list = await api.get('/v1/exports?limit=100').expect(200);
    expect(list.body.total).toBeGreaterThanOrEqual(MAX_PENDING);
    await api.get('/v1/customers?limit=1').expect(200);
  });
});
