import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyBaseLogger } from 'fastify';
import type pg from 'pg';
import type PgBoss from 'pg-boss';
import { timestamp } from '../timestamps.js';
import { withTransaction } from '../transaction.js';
import type { ExportStore } from '../exports/store.js';
import type { ExportWriter } from '../exports/writer.js';
import { JobFailure } from './inputs.js';
import { isExportJob, type ActionJob, type JobQueue, type QueuedJob } from './queue.js';
import type { JobRunner } from './runner.js';
import type { AsyncActionStore } from './store.js';

export interface WorkersOptions {
  db: pg.Pool;
  queue: JobQueue;
  runner: JobRunner;
  actions: AsyncActionStore;
  exportWriter: ExportWriter;
  exports: ExportStore;
  concurrency: number;
  pollSeconds: number;
  log: FastifyBaseLogger;
}

export interface Workers {
  /** A job was just queued in this process: idle workers look now instead of at their next poll. */
  wake(): void;
  /** Workers finish the batch they are applying, hand their jobs on, and stop. */
  stop(): Promise<void>;
}

/** What a client is told about an action that could not be carried out to the end. */
const GAVE_UP = 'Processing failed repeatedly and was given up.';

export function startWorkers({
  db,
  queue,
  runner,
  actions,
  exportWriter,
  exports,
  concurrency,
  pollSeconds,
  log,
}: WorkersOptions): Workers {
  const stopping = new AbortController();
  let wakeUp = new AbortController();

  /** The action ends FAILED (the export ERROR) and its job completes, together. */
  async function fail(job: PgBoss.Job<QueuedJob>, reason: string) {
    await withTransaction(db, async (tx) => {
      const { data } = job;
      if ('exportId' in data) await exports.fail(tx, data.exportId, reason, timestamp());
      else await actions.fail(tx, data.actionId, reason, timestamp());
      await queue.complete(job, tx);
    });
  }

  /** Writes an export's file; an error leaves the job to be tried again, as an action's. */
  async function workOnExport(job: PgBoss.Job<{ exportId: string }>) {
    const { exportId } = job.data;
    try {
      const outcome = await exportWriter.run(job, stopping.signal);
      log.info({ exportId, outcome }, 'export job ended');
    } catch (error) {
      log.error({ err: error, exportId }, 'export job failed: it will be tried again');
      await queue.fail(job, error as Error);
    }
  }

  /** Takes a job if there is one and works on it; false when there was none. */
  async function workOnce(): Promise<boolean> {
    const givenUp = await queue.takeGivenUp();
    if (givenUp) {
      log.error({ job: givenUp.data }, 'job given up after its last try');
      await fail(givenUp, GAVE_UP);
      return true;
    }
    const taken = await queue.take();
    if (!taken) {
      // Idle: a few expired reports and export files at a time lose their rows, far from any request.
      await actions.dropExpiredReports(timestamp());
      await exports.dropExpiredFiles(timestamp());
      return false;
    }
    if (isExportJob(taken)) {
      await workOnExport(taken);
      return true;
    }
    const job = taken as PgBoss.Job<ActionJob>;
    const { actionId } = job.data;
    try {
      // The runner completes the job, except one taken over: that is the other worker's now.
      const outcome = await runner.run(job, stopping.signal);
      log.info({ asyncActionId: actionId, outcome }, 'async action job ended');
    } catch (error) {
      if (error instanceof JobFailure) {
        log.warn({ asyncActionId: actionId, reason: error.message }, 'async action failed');
        await fail(job, error.message);
      } else {
        log.error({ err: error, asyncActionId: actionId }, 'async action job failed: it will be tried again');
        await queue.fail(job, error as Error);
      }
    }
    return true;
  }

  async function loop() {
    while (!stopping.signal.aborted) {
      let worked = false;
      try {
        worked = await workOnce();
      } catch (error) {
        // The database is unreachable or the like: wait for the next poll.
        log.error({ err: error }, 'job worker could not reach the queue');
      }
      if (!worked && !stopping.signal.aborted) {
        const idle = AbortSignal.any([stopping.signal, wakeUp.signal]);
        await sleep(pollSeconds * 1000, undefined, { signal: idle }).catch(() => undefined);
      }
    }
  }

  const loops = Array.from({ length: concurrency }, loop);
  return {
    wake() {
      wakeUp.abort();
      wakeUp = new AbortController();
    },
    async stop() {
      stopping.abort();
      log.info('job workers stopping: each finishes the batch it is applying and hands its job on');
      await Promise.all(loops);
    },
  };
}
