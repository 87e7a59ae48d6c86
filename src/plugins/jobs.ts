import { hostname } from 'node:os';
import fp from 'fastify-plugin';
import type { JobsConfig } from '../config.js';
import { createBulkWriter } from '../customers/bulk.js';
import { CUSTOMER_OBJECT, rulesOf } from '../customers/metadata-schemas.js';
import { createCustomerRepository } from '../customers/repository/index.js';
import { metadataSchemaStore } from '../customers/repository/metadata-schemas.js';
import { createExportService, type ExportService } from '../exports/service.js';
import { createExportStore } from '../exports/store.js';
import { createExportWriter } from '../exports/writer.js';
import { createJobQueue } from '../jobs/queue.js';
import { createReportLinks } from '../jobs/report-links.js';
import { createJobRunner } from '../jobs/runner.js';
import { createAsyncActionService, type AsyncActionService } from '../jobs/service.js';
import { createDownloadLinks, type LinkSecrets } from '../signed-links.js';
import { createAsyncActionStore } from '../jobs/store.js';
import { startWorkers, type Workers } from '../jobs/workers.js';
import { isDatabaseUnavailable } from './database.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** Accepts bulk updates and imports as async actions, and reports on them. */
    asyncActions: AsyncActionService;
    /** Accepts customer exports as jobs, reports on them, and serves their files. */
    exports: ExportService;
  }
}

export interface JobsOptions {
  jobs: JobsConfig;
  /** Where the links of async action reports and export files point, and the secret that signs them. */
  links: { publicUrl: string; secrets: LinkSecrets };
}

/**
 * The async action queue on the service's database. Jobs start being worked on once the app
 * is ready (after migrations), in this process when `jobs.worker` is set; closing the app lets
 * each running job finish its batch and hands it on to the next worker.
 */
export default fp<JobsOptions>(
  async (app, { jobs, links }) => {
    const metadataSchemas = metadataSchemaStore(app.db);
    const actions = createAsyncActionStore(app.db, { reportRetentionHours: jobs.reportRetentionHours });
    const queue = createJobQueue(app.db, {
      timeoutSeconds: jobs.timeoutSeconds,
      supervise: jobs.worker,
      retries: jobs.retries,
      log: app.log,
    });
    const exports = createExportStore(app.db, { retentionHours: jobs.exports.retentionHours });
    const metadataRules = async () => rulesOf(await metadataSchemas.forObject(CUSTOMER_OBJECT));
    let workers: Workers | undefined;

    app.decorate(
      'asyncActions',
      createAsyncActionService({
        db: app.db,
        actions,
        queue,
        queued: () => workers?.wake(),
        reportLinks: createReportLinks(links),
      }),
    );
    app.decorate(
      'exports',
      createExportService({
        db: app.db,
        exports,
        queue,
        queued: () => workers?.wake(),
        links: createDownloadLinks(links, 'export-download-links', (exportId) => `/v1/exports/${exportId}`),
        metadataRules,
        limits: jobs.exports,
      }),
    );

    let closing = false;
    let retry: NodeJS.Timeout | undefined;

    function startWorkersNow() {
      if (!jobs.worker) return;
      const worker = `${hostname()}:${process.pid}`;
      const runner = createJobRunner({
        db: app.db,
        actions,
        writer: createBulkWriter(createCustomerRepository(app.db)),
        queue,
        batchSize: jobs.batchSize,
        importLanes: jobs.importLanes,
        sliceMs: (jobs.timeoutSeconds * 1000) / 3,
        worker,
        log: app.log,
        metadataRules,
      });
      const exportWriter = createExportWriter({
        db: app.db,
        exports,
        queue,
        worker,
        metadataRules,
        timeoutSeconds: jobs.exports.timeoutSeconds,
        log: app.log,
      });
      workers = startWorkers({
        db: app.db,
        queue,
        runner,
        actions,
        exportWriter,
        exports,
        concurrency: jobs.concurrency,
        pollSeconds: jobs.pollSeconds,
        log: app.log,
      });
    }

    /**
     * Starts the queue, and the workers after it. `npm start` checks the database (its
     * migrations) before the app is ready and stops when it cannot; a database that goes away
     * after that check, or an app built without it, does not stop the app from starting (its
     * readiness says so): the queue tries again, waiting up to 30 s between tries.
     */
    async function startQueue(attempt = 1): Promise<void> {
      try {
        await queue.start();
      } catch (error) {
        if (!isDatabaseUnavailable(error) || closing) throw error;
        const delayMs = Math.min(30_000, 500 * 2 ** attempt);
        app.log.warn({ err: error, retryInMs: delayMs }, 'job queue cannot start yet: the database is unavailable');
        retry = setTimeout(() => {
          startQueue(attempt + 1).catch((failure: unknown) => app.log.error({ err: failure }, 'job queue failed to start'));
        }, delayMs);
        return;
      }
      if (!closing) startWorkersNow();
    }

    app.addHook('onReady', () => startQueue());

    app.addHook('onClose', async () => {
      closing = true;
      clearTimeout(retry);
      await workers?.stop();
      await queue.stop();
    });
  },
  { name: 'jobs', dependencies: ['database'] },
);
