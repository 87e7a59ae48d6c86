import { Readable } from 'node:stream';
import pg from 'pg';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBulkWriter } from '../src/customers/bulk.js';
import { CUSTOMER_OBJECT, rulesOf } from '../src/customers/metadata-schemas.js';
import { createCustomerRepository } from '../src/customers/repository/index.js';
import { metadataSchemaStore } from '../src/customers/repository/metadata-schemas.js';
import { createJobQueue, type JobQueue } from '../src/jobs/queue.js';
import { createExportStore } from '../src/exports/store.js';
import { createExportWriter } from '../src/exports/writer.js';
import { createReportLinks } from '../src/jobs/report-links.js';
import { createJobRunner } from '../src/jobs/runner.js';
import { createAsyncActionService, type AsyncActionService } from '../src/jobs/service.js';
import { createAsyncActionStore } from '../src/jobs/store.js';
import { startWorkers, type Workers } from '../src/jobs/workers.js';
import { useTestApp } from './support/app.js';
import { unique } from './support/customers.js';
import { until } from './support/wait.js';

// The jobs stack as the jobs plugin assembles it, over a pool of ONE connection: the embedded
// database mode serves the whole app on one connection, and nothing here may wait for a second.
const test = useTestApp({ WORKER_ENABLED: 'false' });
let pool: pg.Pool;
let queue: JobQueue;
let workers: Workers;
let service: AsyncActionService;
let connections = 0;

beforeAll(async () => {
  pool = new pg.Pool({ connectionString: test.databaseUrl, max: 1 });
  pool.on('connect', () => (connections += 1));
  // A Fastify without a logger hands out its silent one.
  const { log } = Fastify({ logger: false });
  const actions = createAsyncActionStore(pool, { reportRetentionHours: 1 });
  queue = createJobQueue(pool, { timeoutSeconds: 60, supervise: true, retries: 1, log });
  await queue.start();
  const runner = createJobRunner({
    db: pool,
    actions,
    writer: createBulkWriter(createCustomerRepository(pool)),
    queue,
    batchSize: 10,
    importLanes: 1,
    // Every batch hands the job on to a new job: the hand-on transaction runs on the one connection too.
    sliceMs: 1,
    worker: 'single-connection',
    log,
    metadataRules: async () => rulesOf(await metadataSchemaStore(pool).forObject(CUSTOMER_OBJECT)),
  });
  const exports = createExportStore(pool, { retentionHours: 1 });
  const exportWriter = createExportWriter({
    db: pool,
    exports,
    queue,
    worker: 'single-connection',
    metadataRules: async () => undefined,
    timeoutSeconds: 60,
    log,
  });
  workers = startWorkers({ db: pool, queue, runner, actions, exportWriter, exports, concurrency: 2, pollSeconds: 0.5, log });
  service = createAsyncActionService({
    db: pool,
    actions,
    queue,
    queued: () => workers.wake(),
    reportLinks: createReportLinks({
      publicUrl: 'http://localhost',
      secrets: { current: 'single-connection-test-link-secret', previous: [] },
    }),
  });
});
afterAll(async () => {
  await workers.stop();
  await queue.stop();
  await pool.end();
});

async function whenDone(id: string) {
  let action = await service.get(id);
  await until(async () => {
    action = await service.get(id);
    return action.status === 'DONE' || action.status === 'FAILED';
  }, `async action ${id} to finish`);
  return action;
}

describe('async actions on a single database connection', () => {
  it('accept, work on (two jobs at once, handed on after every batch) and report actions without ever needing a second connection', async () => {
    const prefix = unique('one');
    const csv = `Source_id,Name\n${Array.from({ length: 300 }, (_, index) => `${prefix}-csv-${index},Csv`).join('\n')}\n`;
    const [bulk, metadata, imported] = await Promise.all([
      service.acceptBulkUpdate(
        Array.from({ length: 300 }, (_, index) => ({ source_id: `${prefix}-bulk-${index}` })),
        'v-000000000000000001',
      ),
      service.acceptMetadataUpdate(
        { source_ids: [`${prefix}-bulk-0`, `${prefix}-meta`], metadata: { one: 1 } },
        'v-000000000000000002',
      ),
      service.acceptCsvImport(Readable.from([Buffer.from(csv)]), 'v-000000000000000003'),
    ]);
    const finished = await Promise.all([bulk, metadata, imported].map(({ async_action_id: id }) => whenDone(id)));
    expect(finished.map((action) => [action.status, action.result.done_count, action.result.failed_count])).toEqual([
      ['DONE', 300, 0],
      ['DONE', 2, 0],
      ['DONE', 300, 0],
    ]);
    const { rows } = await pool.query('SELECT count(*)::int AS customers FROM customers WHERE source_id LIKE $1', [
      `${prefix}-%`,
    ]);
    expect(rows).toEqual([{ customers: 601 }]);
    expect(connections).toBe(1);
  });
});
