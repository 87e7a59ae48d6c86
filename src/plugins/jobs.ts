import { hostname } from 'node:os';
import fp from 'fastify-plugin';
import type { JobsConfig } from '../config.js';
import { createBulkWriter } from '../customers/bulk.js';
import { createCustomerStore } from '../customers/store.js';
import { createJobQueue } from '../jobs/queue.js';
import { createJobRunner } from '../jobs/runner.js';
import { createAsyncActionService, type AsyncActionService } from '../jobs/service.js';
import { createAsyncActionStore } from '../jobs/store.js';
import { startWorkers, type Workers } from '../jobs/workers.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Accepts bulk updates and imports as async actions, and reports on them. */
    asyncActions: AsyncActionService;
  }
}

export interface JobsOptions {
  jobs: JobsConfig;
}

/**
 * The async action queue on the service's database. Jobs start being worked on once the app
 * is ready (after migrations), in this process when `jobs.worker` is set; closing the app lets
 * each running job finish its batch and hands it on to the next worker.
 */
export default fp<JobsOptions>(
  async (app, { jobs }) => {
    const actions = createAsyncActionStore(app.db);
    const queue = createJobQueue(app.db, {
      timeoutSeconds: jobs.timeoutSeconds,
      supervise: jobs.worker,
      retries: jobs.retries,
      log: app.log,
    });
    let workers: Workers | undefined;

    app.decorate(
      'asyncActions',
      createAsyncActionService({ db: app.db, actions, queue, queued: () => workers?.wake() }),
    );

    app.addHook('onReady', async () => {
      await queue.start();
      if (!jobs.worker) return;
      const runner = createJobRunner({
        db: app.db,
        actions,
        writer: createBulkWriter(createCustomerStore(app.db)),
        queue,
        batchSize: jobs.batchSize,
        sliceMs: (jobs.timeoutSeconds * 1000) / 3,
        worker: `${hostname()}:${process.pid}`,
      });
      workers = startWorkers({ db: app.db, queue, runner, actions, concurrency: jobs.concurrency, pollSeconds: jobs.pollSeconds, log: app.log });
    });

    app.addHook('onClose', async () => {
      await workers?.stop();
      await queue.stop();
    });
  },
  { name: 'jobs', dependencies: ['database'] },
);
