import type { FastifyBaseLogger } from 'fastify';
import PgBoss from 'pg-boss';
import type { Queryable } from '../transaction.js';

/** Jobs carry only the async action they work on: its row holds the input and the progress. */
export interface ActionJob {
  actionId: string;
}

/** Or the customer export they write: its row holds the parameters. */
export interface ExportJob {
  exportId: string;
}

export type QueuedJob = ActionJob | ExportJob;

export const isExportJob = (job: PgBoss.Job<QueuedJob>): job is PgBoss.Job<ExportJob> => 'exportId' in job.data;

const JOBS = 'async-actions';
/** Where pg-boss moves a job that failed on every try. */
const GAVE_UP = 'async-actions-gave-up';

/** A job that failed is tried again 2 to 4 s later, then 4 to 8 s, 8 to 16 s... */
const RETRY_DELAY_SECONDS = 2;

export interface JobQueueOptions {
  /** A job still active this long after a worker took it is handed to another worker. */
  timeoutSeconds: number;
  /** Whether this process runs pg-boss's maintenance, which finds those jobs (workers do). */
  supervise: boolean;
  /** Tries after the first before a job is given up. */
  retries: number;
  log: FastifyBaseLogger;
}

/** pg-boss's view of a database: statements go through `db`, which may be a pool, a connection or a transaction. */
const through = (db: Queryable): PgBoss.Db => ({ executeSql: (text, values) => db.query(text, values) });

/**
 * The durable job queue: pg-boss on the service's own database and connection pool. A job is
 * sent in the transaction that creates its async action, so an action is never accepted
 * without its job nor queued without its action. Workers fetch jobs with FOR UPDATE SKIP
 * LOCKED: one job goes to one worker.
 */
export function createJobQueue(db: Queryable, { timeoutSeconds, supervise, retries, log }: JobQueueOptions) {
  // Statements pg-boss has started, so that closing waits for them before the pool ends.
  const running = new Set<Promise<unknown>>();
  const boss = new PgBoss({
    db: {
      executeSql(text, values) {
        const statement = db.query(text, values);
        running.add(statement);
        const forget = () => running.delete(statement);
        statement.then(forget, forget);
        return statement;
      },
    },
    // No cron schedules here; maintenance expires the jobs of workers that died.
    schedule: false,
    supervise,
    maintenanceIntervalSeconds: Math.max(1, Math.round(timeoutSeconds / 4)),
  });
  boss.on('error', (error) => log.warn({ err: error }, 'job queue maintenance failed'));

  const queueOptions: PgBoss.Queue = {
    name: JOBS,
    retryLimit: retries,
    retryDelay: RETRY_DELAY_SECONDS,
    retryBackoff: true,
    expireInSeconds: timeoutSeconds,
    deadLetter: GAVE_UP,
  };

  return {
    /** Creates or migrates pg-boss's schema (`pgboss`) and the queues, and starts maintenance. */
    async start(): Promise<void> {
      await boss.start();
      await boss.createQueue(GAVE_UP);
      await boss.createQueue(JOBS, queueOptions);
      // A queue keeps the options it was created with: this process's timeout applies from now on.
      await boss.updateQueue(JOBS, queueOptions);
    },

    async stop(): Promise<void> {
      await boss.stop({ graceful: false, close: false });
      await Promise.allSettled(running);
    },

    /** Queues a job for the action, as part of the transaction `tx`. */
    async send(tx: Queryable, actionId: string): Promise<void> {
      const job: ActionJob = { actionId };
      await boss.send(JOBS, job, { db: through(tx), expireInSeconds: timeoutSeconds, retryLimit: retries });
    },

    /**
     * Queues the job of an export, as part of the transaction `tx`. An export is written whole
     * in one job, which may take longer than an action's slice: it gets its own timeout.
     */
    async sendExport(tx: Queryable, exportId: string, exportTimeoutSeconds: number): Promise<void> {
      const job: ExportJob = { exportId };
      await boss.send(JOBS, job, { db: through(tx), expireInSeconds: exportTimeoutSeconds, retryLimit: retries });
    },

    /** The next job to work on, now taken by this worker, if there is one. */
    async take(): Promise<PgBoss.Job<QueuedJob> | undefined> {
      const [job] = await boss.fetch<QueuedJob>(JOBS);
      return job;
    },

    /** The next job given up after its last try, if there is one. */
    async takeGivenUp(): Promise<PgBoss.Job<QueuedJob> | undefined> {
      const [job] = await boss.fetch<QueuedJob>(GAVE_UP);
      return job;
    },

    /** Marks the job done, as part of the transaction `tx` that finished its work when given. */
    async complete(job: PgBoss.Job<QueuedJob>, tx: Queryable = db): Promise<void> {
      await boss.complete(job.name, job.id, {}, { db: through(tx) });
    },

    /** The job goes back to the queue for another try, or to the given-up queue after its last. */
    async fail(job: PgBoss.Job<QueuedJob>, error: Error): Promise<void> {
      await boss.fail(job.name, job.id, { message: error.message });
    },
  };
}

export type JobQueue = ReturnType<typeof createJobQueue>;
