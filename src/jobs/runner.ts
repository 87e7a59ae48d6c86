import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import type { FastifyBaseLogger } from 'fastify';
import type PgBoss from 'pg-boss';
import type { BulkWriter } from '../customers/bulk.js';
import type { MetadataSchemaRules } from '../customers/metadata-rules.js';
import { hasReport } from '../schemas/async-action.js';
import { timestamp } from '../timestamps.js';
import { withTransaction } from '../transaction.js';
import { inputBatches, type PreparedBatch } from './inputs.js';
import type { ActionJob, JobQueue } from './queue.js';
import type { AsyncActionRow, AsyncActionStore } from './store.js';

/** How a job's work on its action ended, short of an error. */
export type RunOutcome =
  /** The action is DONE. */
  | 'done'
  /** The time slice ran out or the worker is stopping: a new job continues from the last batch. */
  | 'handed-on'
  /** Another worker took the action over (this one was presumed dead): the job is now its job. */
  | 'taken-over'
  /** The action had already finished. */
  | 'finished-before';

export interface RunnerOptions {
  db: pg.Pool;
  actions: AsyncActionStore;
  writer: BulkWriter;
  queue: JobQueue;
  batchSize: number;
  /** How long one job works before handing the action on to a new job. */
  sliceMs: number;
  /** Names this worker in the action's row. */
  worker: string;
  /** The customer metadata schema's rules, read again for every batch. */
  metadataRules: () => Promise<MetadataSchemaRules | undefined>;
  log: FastifyBaseLogger;
}

/** A batch could not commit: the claim it ran under is no longer the action's. */
class TakenOver extends Error {}

/** Errors after which the same transaction, tried again, may well succeed. */
const TRANSIENT = new Set(['40001', '40P01']);
const MAX_TRANSACTION_TRIES = 3;

export function createJobRunner({ db, actions, writer, queue, batchSize, sliceMs, worker, log, metadataRules }: RunnerOptions) {
  /** One transaction, tried again after a deadlock or a serialization failure. */
  async function transaction<T>(work: Parameters<typeof withTransaction<T>>[1]): Promise<T> {
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await withTransaction(db, work);
      } catch (error) {
        const code = (error as { code?: string }).code;
        if (attempt >= MAX_TRANSACTION_TRIES || code === undefined || !TRANSIENT.has(code)) throw error;
      }
    }
  }

  /**
   * Applies a batch and records its progress in one transaction, so the action's counts and
   * position always describe exactly the rows applied. Answers whether the batch found most of
   * its customers already there, which the next batch of the job expects in turn, and how many
   * customers it wrote.
   */
  async function commit(
    action: AsyncActionRow,
    token: string,
    batch: PreparedBatch,
    expectExisting: boolean,
  ): Promise<{ expectExisting: boolean; written: number }> {
    const rules = await metadataRules();
    return transaction(async (tx) => {
      const now = timestamp();
      // Every customer written records its activity event in the same statement, grouped under
      // the request that queued the action.
      const stamp = { at: now, requestId: action.request_id };
      const outcome =
        action.type === 'CUSTOMERS.METADATA_UPDATE'
          ? await writer.mergeMetadata(tx, batch.targets, action.params.metadata ?? {}, stamp, rules)
          : await writer.upsert(tx, batch.writes, stamp, { expectExisting, rules });
      const failed = [...batch.failed, ...outcome.failed].sort((a, b) => a.row - b.row);
      const { applied } = outcome;
      const progress = {
        position: batch.position,
        inputRead: batch.inputRead,
        applied,
        failed,
        reported: hasReport(action.type),
      };
      if (!(await actions.commitBatch(tx, action.id, token, progress, now))) throw new TakenOver();
      const created = applied.filter((row) => row.created).length;
      return { expectExisting: applied.length - created > created, written: applied.length };
    });
  }

  /** Statistics only make plans better: failing to refresh them fails no action. */
  async function refreshStatistics(actionId: string, written: number) {
    try {
      if (await writer.refreshStatistics(written))
        log.info({ asyncActionId: actionId, written }, 'customers table analyzed after a bulk write');
    } catch (error) {
      log.warn({ err: error, asyncActionId: actionId }, 'could not analyze the customers table after a bulk write');
    }
  }

  return {
    /**
     * Works on a job's action: claims it, then applies its input batch after batch from where
     * the last committed batch stopped, until the input ends (DONE), the slice is over or `stop`
     * is aborted (handed on to a new job at a batch boundary). The job is completed in the
     * transaction that finishes or hands on the action, so no crash leaves two jobs for it.
     */
    async run(job: PgBoss.Job<ActionJob>, stop: AbortSignal): Promise<RunOutcome> {
      const token = randomUUID();
      const action = await actions.claim(job.data.actionId, token, worker, timestamp());
      if (!action) {
        await queue.complete(job);
        return 'finished-before';
      }
      const sliceEnd = Date.now() + sliceMs;
      const batches = inputBatches(actions, action, batchSize);
      try {
        let next = batches.next();
        next.catch(() => undefined);
        let expectExisting = false;
        // Customers written by the whole action: by earlier jobs, then by this one.
        let written = action.done_count;
        // A slice applies at least one batch, however short it is: every job moves the action on.
        for (let committed = 0; ; committed += 1) {
          if (stop.aborted || (committed > 0 && Date.now() >= sliceEnd)) {
            await transaction(async (tx) => {
              if (!(await actions.release(tx, action.id, token, timestamp()))) throw new TakenOver();
              await queue.send(tx, action.id);
              await queue.complete(job, tx);
            });
            return 'handed-on';
          }
          const { value: batch, done } = await next;
          if (done) break;
          // The next batch is read and checked while this one is written.
          next = batches.next();
          next.catch(() => undefined);
          const applied = await commit(action, token, batch, expectExisting);
          expectExisting = applied.expectExisting;
          written += applied.written;
        }
        // Before DONE: whoever sees the action done also gets list pages planned for its rows.
        await refreshStatistics(action.id, written);
        await transaction(async (tx) => {
          if (!(await actions.finish(tx, action.id, token, timestamp()))) throw new TakenOver();
          await queue.complete(job, tx);
        });
        return 'done';
      } catch (error) {
        if (error instanceof TakenOver) return 'taken-over';
        throw error;
      } finally {
        await batches.return(undefined);
      }
    },
  };
}

export type JobRunner = ReturnType<typeof createJobRunner>;
