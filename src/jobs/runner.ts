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
  /** Lanes a CSV import is applied in at once (see laneOf). */
  importLanes: number;
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

/** Batches one lane may have queued or in progress: the reader gets this far ahead of it. */
const LANE_WINDOW = 2;

/**
 * The lane of an input row. A lane applies its rows in file order, one batch after another, while
 * the other lanes apply theirs on their own connections: every row naming one source_id goes to
 * the same lane, so a customer's rows are applied in file order. A row without one creates a
 * customer of its own, in any lane.
 */
export function laneOf(sourceId: string | null, row: number, lanes: number): number {
  if (lanes === 1) return 0;
  if (sourceId === null) return row % lanes;
  let hash = 0;
  for (let index = 0; index < sourceId.length; index += 1) hash = (Math.imul(hash, 31) + sourceId.charCodeAt(index)) | 0;
  return (hash >>> 0) % lanes;
}

/**
 * Whether a batch must be applied alone, every lane's earlier rows first and none of the later
 * ones meanwhile: a row naming a customer by id may name one whose source_id is in another lane.
 */
const appliedAlone = (batch: PreparedBatch) => batch.writes.some((write) => write.id !== undefined);

/**
 * The rows of a batch in each lane, less those that lane applied before (`positions`: each lane's
 * rows up to its position are applied). Each part ends where the batch does.
 */
function laneParts(batch: PreparedBatch, positions: readonly number[]): PreparedBatch[] {
  const lanes = positions.length;
  const parts = positions.map(() => ({ ...batch, writes: [], targets: [], failed: [] }) as PreparedBatch);
  const pending = (sourceId: string | null, row: number) => {
    const lane = laneOf(sourceId, row, lanes);
    return row > positions[lane]! ? parts[lane]! : undefined;
  };
  for (const write of batch.writes) pending(write.sourceId, write.row)?.writes.push(write);
  for (const target of batch.targets) pending(target.sourceId, target.row)?.targets.push(target);
  for (const failure of batch.failed) pending(failure.sourceId, failure.row)?.failed.push(failure);
  return parts;
}

/** A batch less the rows its lanes applied before. */
function unapplied(batch: PreparedBatch, positions: readonly number[]): PreparedBatch {
  const parts = laneParts(batch, positions);
  const byRow = <T extends { row: number }>(rows: T[]) => rows.sort((a, b) => a.row - b.row);
  return {
    ...batch,
    writes: byRow(parts.flatMap((part) => part.writes)),
    targets: byRow(parts.flatMap((part) => part.targets)),
    failed: byRow(parts.flatMap((part) => part.failed)),
  };
}

/** Errors after which the same transaction, tried again, may well succeed. */
const TRANSIENT = new Set(['40001', '40P01']);
const MAX_TRANSACTION_TRIES = 3;

export function createJobRunner({
  db,
  actions,
  writer,
  queue,
  batchSize,
  importLanes,
  sliceMs,
  worker,
  log,
  metadataRules,
}: RunnerOptions) {
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
    lane?: number,
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
        lane,
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
      // An action started in lanes goes on in as many, whatever this worker's setting.
      const lanes = action.lane_positions.length || (action.type === 'CUSTOMERS.IMPORT_CSV' ? importLanes : 1);
      let positions = action.lane_positions.length > 0 ? action.lane_positions : [action.position];
      if (lanes > 1 && action.lane_positions.length === 0) {
        const started = await actions.startLanes(action.id, token, lanes);
        if (!started) return 'taken-over';
        positions = started;
      }
      // Each lane's part of a batch holds about batchSize rows.
      const batches = inputBatches(actions, action, batchSize * lanes);

      // Customers written by the whole action: by earlier jobs, then by this one.
      let written = action.done_count;
      let committed = 0;
      let skipped = false;
      let failure: unknown;
      /** Time to hand on: stopping, or the slice is over once this job has moved the action on. */
      const halted = () => stop.aborted || (committed > 0 && Date.now() >= sliceEnd);

      /** Applies a batch, or a lane's part of one; after a failure or once halted, leaves it to the next job. */
      const expectExisting = positions.map(() => false);
      async function apply(batch: PreparedBatch, lane?: number): Promise<void> {
        if (failure !== undefined || halted()) {
          skipped = true;
          return;
        }
        try {
          const applied = await commit(action!, token, batch, expectExisting[lane ?? 0]!, lanes > 1 ? lane : undefined);
          expectExisting[lane ?? 0] = applied.expectExisting;
          written += applied.written;
          committed += 1;
        } catch (error) {
          failure ??= error;
        }
      }

      // Each lane applies its parts one after another; the lanes run at once, each on a connection of its own.
      const tails: Array<Promise<void>> = positions.map(() => Promise.resolve());
      const queued: Array<Array<Promise<void>>> = positions.map(() => []);
      const drained = () => Promise.all(tails);
      let ended = false;
      try {
        for (;;) {
          if (failure !== undefined || halted()) break;
          // The next batch is read and checked while the lanes write.
          const { value: batch, done } = await batches.next();
          if (done) {
            ended = true;
            break;
          }
          if (lanes > 1 && appliedAlone(batch)) {
            await drained();
            await apply(unapplied(batch, positions));
            continue;
          }
          for (const [lane, part] of laneParts(batch, positions).entries()) {
            const waiting = queued[lane]!;
            if (waiting.length >= LANE_WINDOW) await waiting.shift();
            const applied = tails[lane]!.then(() => apply(part, lane));
            tails[lane] = applied;
            waiting.push(applied);
          }
        }
        await drained();
        if (failure !== undefined) throw failure;
        if (!ended || skipped) {
          await transaction(async (tx) => {
            if (!(await actions.release(tx, action.id, token, timestamp()))) throw new TakenOver();
            await queue.send(tx, action.id);
            await queue.complete(job, tx);
          });
          return 'handed-on';
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
        await drained();
        await batches.return(undefined);
      }
    },
  };
}

export type JobRunner = ReturnType<typeof createJobRunner>;
