import type pg from 'pg';
import type { AppliedRow, RowFailure } from '../customers/bulk.js';
import { isoTimestamp } from '../customers/repository/statements.js';
import { REPORTED_TYPES, type AsyncActionStatus, type AsyncActionType } from '../schemas/async-action.js';
import type { Queryable } from '../transaction.js';

/** An async action as stored, timestamps in the wire format. */
export interface AsyncActionRow {
  id: string;
  type: AsyncActionType;
  /** Reads never return an action still UPLOADING its CSV file. */
  status: AsyncActionStatus;
  request_id: string;
  params: { metadata?: Record<string, unknown> };
  input_size: number;
  input_read: number;
  position: number;
  /** An action applied in lanes: each lane's position (see commitBatch); empty for one lane. */
  lane_positions: number[];
  done_count: number;
  failed_count: number;
  error: string | null;
  created_at: string;
  updated_at: string;
  started_at: string | null;
  finished_at: string | null;
  reports_available_till: string | null;
}

export interface NewAsyncAction {
  id: string;
  type: AsyncActionType;
  status: 'ENQUEUED' | 'UPLOADING';
  requestId: string;
  params?: AsyncActionRow['params'];
  inputSize: number;
  now: string;
}

/** How far a batch moved the action: the input consumed and what became of its rows. */
export interface BatchProgress {
  position: number;
  inputRead: number;
  applied: AppliedRow[];
  failed: RowFailure[];
  /** Whether the applied rows are kept for the action's report (its failures always are). */
  reported: boolean;
  /**
   * The lane (0-based) whose rows up to `position` the batch completes, of an action applied in
   * lanes; absent, the batch completes every row up to `position`, in every lane.
   */
  lane?: number;
}

/** An action not ended yet: waiting for a worker or being worked on (a partial index keeps these). */
export const UNFINISHED_ACTION = "status IN ('ENQUEUED', 'IN_PROGRESS')";

const COLUMNS = `id, type, status, request_id, params, input_size, input_read, position,
  coalesce(lane_positions, '{}') AS lane_positions, done_count, failed_count, error,
  ${isoTimestamp('created_at')}, ${isoTimestamp('updated_at')}, ${isoTimestamp('started_at')}, ${isoTimestamp('finished_at')},
  ${isoTimestamp('reports_available_till')}`;

/** One row of an action's report: an input row applied or failed. */
export interface ReportRow {
  row: number;
  source_id: string | null;
  status: 'created' | 'updated' | 'failed';
  error_key: string | null;
  error_message: string | null;
}

/** The key of every failed row, in reports as in the result's `errors`. */
export const FAILED_ROW_KEY = 'invalid_payload';

/**
 * Ending an action starts its report's time (every action gets one; only the types that have a
 * report show it) and marks the applied rows as kept until then.
 */
const REPORT_ENDS = `reports_available_till = $3::timestamptz + make_interval(hours => $4),
  report_kept = type = ANY($5::text[])`;

/** The input of a finished action is of no more use; its failures stay, they are part of the result. */
const dropInput = async (db: Queryable, id: string) => {
  await db.query('DELETE FROM async_action_items WHERE action_id = $1', [id]);
  await db.query('DELETE FROM async_action_file_chunks WHERE action_id = $1', [id]);
};

export function createAsyncActionStore(db: pg.Pool, { reportRetentionHours }: { reportRetentionHours: number }) {
  return {
    async insert(tx: Queryable, action: NewAsyncAction): Promise<void> {
      await tx.query(
        `INSERT INTO async_actions (id, type, status, request_id, params, input_size, created_at, updated_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $7)`,
        [
          action.id,
          action.type,
          action.status,
          action.requestId,
          JSON.stringify(action.params ?? {}),
          action.inputSize,
          action.now,
        ],
      );
    },

    /** Stores the elements of a JSON array as the action's items 1..n, split by the database. */
    async insertItems(tx: Queryable, id: string, items: readonly unknown[]): Promise<void> {
      await tx.query(
        `INSERT INTO async_action_items (action_id, position, item)
         SELECT $1, ordinality, value FROM jsonb_array_elements($2::jsonb) WITH ORDINALITY`,
        [id, JSON.stringify(items)],
      );
    },

    async insertChunk(id: string, seq: number, data: Buffer): Promise<void> {
      await db.query('INSERT INTO async_action_file_chunks (action_id, seq, data) VALUES ($1, $2, $3)', [id, seq, data]);
    },

    /** An uploaded file is complete: the action joins the queue. */
    async markUploaded(tx: Queryable, id: string, inputSize: number, now: string): Promise<void> {
      await tx.query(
        `UPDATE async_actions SET status = 'ENQUEUED', input_size = $2, created_at = $3, updated_at = $3
         WHERE id = $1 AND status = 'UPLOADING'`,
        [id, inputSize, now],
      );
    },

    /** Removes an action that was never accepted (its upload failed), with what it stored. */
    async removeUpload(id: string): Promise<void> {
      await db.query(`DELETE FROM async_actions WHERE id = $1 AND status = 'UPLOADING'`, [id]);
    },

    /** Uploads that a crashed process left half-written. */
    async removeAbandonedUploads(startedBefore: string): Promise<void> {
      await db.query(`DELETE FROM async_actions WHERE status = 'UPLOADING' AND created_at < $1::timestamptz`, [startedBefore]);
    },

    async get(id: string): Promise<AsyncActionRow | undefined> {
      const { rows } = await db.query<AsyncActionRow>(
        `SELECT ${COLUMNS} FROM async_actions WHERE id = $1 AND status <> 'UPLOADING'`,
        [id],
      );
      return rows[0];
    },

    /** Newest first, one more than asked so the caller knows whether more follow. */
    async list({ limit, createdBefore }: { limit: number; createdBefore?: string }): Promise<AsyncActionRow[]> {
      const { rows } = await db.query<AsyncActionRow>(
        `SELECT ${COLUMNS} FROM async_actions
         WHERE status <> 'UPLOADING' AND ($2::timestamptz IS NULL OR async_actions.created_at < $2::timestamptz)
         ORDER BY async_actions.created_at DESC, async_actions.id DESC LIMIT $1`,
        [limit + 1, createdBefore ?? null],
      );
      return rows;
    },

    async failures(id: string): Promise<RowFailure[]> {
      const { rows } = await db.query<RowFailure>(
        `SELECT row, source_id AS "sourceId", reason FROM async_action_failures WHERE action_id = $1 ORDER BY row`,
        [id],
      );
      return rows;
    },

    /**
     * Makes `token` the action's only valid claim, unless it has finished. Whoever held it before
     * (a worker presumed dead, or slower than the timeout) can no longer commit a batch. Waits
     * for a batch being committed under the old claim, so the position read is the latest.
     */
    async claim(id: string, token: string, worker: string, now: string): Promise<AsyncActionRow | undefined> {
      const { rows } = await db.query<AsyncActionRow>(
        `UPDATE async_actions
         SET status = 'IN_PROGRESS', lease_token = $2, worker = $3, claims = claims + 1,
             started_at = COALESCE(started_at, $4::timestamptz), updated_at = $4::timestamptz
         WHERE id = $1 AND ${UNFINISHED_ACTION}
         RETURNING ${COLUMNS}`,
        [id, token, worker, now],
      );
      return rows[0];
    },

    async readItems(id: string, afterPosition: number, limit: number): Promise<Array<{ position: number; item: unknown }>> {
      const { rows } = await db.query<{ position: number; item: unknown }>(
        `SELECT position, item FROM async_action_items WHERE action_id = $1 AND position > $2 ORDER BY position LIMIT $3`,
        [id, afterPosition, limit],
      );
      return rows;
    },

    async readChunk(id: string, seq: number): Promise<Buffer | undefined> {
      const { rows } = await db.query<{ data: Buffer }>(
        'SELECT data FROM async_action_file_chunks WHERE action_id = $1 AND seq = $2',
        [id, seq],
      );
      return rows[0]?.data;
    },

    /**
     * Records a batch's progress in the transaction that applied it. False when the claim is no
     * longer valid: the caller must roll the whole batch back.
     */
    async commitBatch(tx: Queryable, id: string, token: string, progress: BatchProgress, now: string): Promise<boolean> {
      const { applied, failed } = progress;
      if (progress.reported && applied.length > 0) {
        await tx.query(
          `INSERT INTO async_action_applied_rows (action_id, row, source_id, created)
           SELECT $1, * FROM unnest($2::int[], $3::text[], $4::boolean[])`,
          [id, applied.map((row) => row.row), applied.map((row) => row.sourceId), applied.map((row) => row.created)],
        );
      }
      if (failed.length > 0) {
        await tx.query(
          `INSERT INTO async_action_failures (action_id, row, source_id, reason)
           SELECT $1, * FROM unnest($2::int[], $3::text[], $4::text[])`,
          [id, failed.map((row) => row.row), failed.map((row) => row.sourceId), failed.map((row) => row.reason)],
        );
      }
      const counts = [id, token, progress.position, progress.inputRead, applied.length, failed.length, now];
      // A lane's batch moves that lane on; the action's position and input read are the least
      // of the lanes'. Two lanes committing at once take turns on the action's row, and the one
      // that waited computes them from the row the other left (a row updated meanwhile is read
      // again, subqueries included).
      const result =
        progress.lane === undefined
          ? await tx.query(
              `UPDATE async_actions
               SET position = $3, input_read = $4, done_count = done_count + $5, failed_count = failed_count + $6, updated_at = $7,
                   lane_positions = array_fill($3::int, ARRAY[cardinality(lane_positions)]),
                   lane_input_read = array_fill($4::int, ARRAY[cardinality(lane_input_read)])
               WHERE id = $1 AND lease_token = $2 AND status = 'IN_PROGRESS'`,
              counts,
            )
          : await tx.query(
              `UPDATE async_actions
               SET lane_positions[$8::int + 1] = $3::int, lane_input_read[$8::int + 1] = $4::int,
                   position = (SELECT min(CASE WHEN lane = $8::int + 1 THEN $3::int ELSE at END)
                               FROM unnest(lane_positions) WITH ORDINALITY AS lanes(at, lane)),
                   input_read = (SELECT min(CASE WHEN lane = $8::int + 1 THEN $4::int ELSE at END)
                                 FROM unnest(lane_input_read) WITH ORDINALITY AS lanes(at, lane)),
                   done_count = done_count + $5, failed_count = failed_count + $6, updated_at = $7
               WHERE id = $1 AND lease_token = $2 AND status = 'IN_PROGRESS' AND cardinality(lane_positions) > $8::int`,
              [...counts, progress.lane],
            );
      return result.rowCount === 1;
    },

    /**
     * Starts applying the action in `lanes` lanes, each from the action's position, unless it
     * already has lanes. The action's lane positions as they now are; undefined when the claim
     * is no longer valid.
     */
    async startLanes(id: string, token: string, lanes: number): Promise<number[] | undefined> {
      const { rows } = await db.query<{ lane_positions: number[] }>(
        `UPDATE async_actions
         SET lane_positions = CASE WHEN cardinality(lane_positions) > 0 THEN lane_positions ELSE array_fill(position, ARRAY[$3::int]) END,
             lane_input_read = CASE WHEN cardinality(lane_positions) > 0 THEN lane_input_read ELSE array_fill(input_read, ARRAY[$3::int]) END
         WHERE id = $1 AND lease_token = $2 AND status = 'IN_PROGRESS'
         RETURNING lane_positions`,
        [id, token, lanes],
      );
      return rows[0]?.lane_positions;
    },

    /** DONE, under a valid claim. */
    async finish(tx: Queryable, id: string, token: string, now: string): Promise<boolean> {
      const result = await tx.query(
        `UPDATE async_actions SET status = 'DONE', lease_token = NULL, input_read = input_size, updated_at = $3, finished_at = $3,
           ${REPORT_ENDS}
         WHERE id = $1 AND lease_token = $2 AND status = 'IN_PROGRESS'`,
        [id, token, now, reportRetentionHours, REPORTED_TYPES],
      );
      if (result.rowCount !== 1) return false;
      await dropInput(tx, id);
      return true;
    },

    /** Gives the claim up so that the next job for the action starts without waiting for a timeout. */
    async release(tx: Queryable, id: string, token: string, now: string): Promise<boolean> {
      const result = await tx.query(
        `UPDATE async_actions SET lease_token = NULL, updated_at = $3 WHERE id = $1 AND lease_token = $2 AND status = 'IN_PROGRESS'`,
        [id, token, now],
      );
      return result.rowCount === 1;
    },

    /** FAILED, whoever holds the claim: what the committed batches applied stays, the rest is not applied. */
    async fail(tx: Queryable, id: string, error: string, now: string): Promise<boolean> {
      const result = await tx.query(
        `UPDATE async_actions SET status = 'FAILED', lease_token = NULL, error = $2, updated_at = $3, finished_at = $3,
           started_at = COALESCE(started_at, $3), ${REPORT_ENDS}
         WHERE id = $1 AND ${UNFINISHED_ACTION}`,
        [id, error, now, reportRetentionHours, REPORTED_TYPES],
      );
      if (result.rowCount !== 1) return false;
      await dropInput(tx, id);
      return true;
    },

    /**
     * The rows of an action's report numbered after `afterRow` up to `throughRow`, in input
     * order: applied rows and failures merged. Pages are ranges of row numbers, which every
     * processed input row has in one of the two tables, so a page reads only its own rows
     * whatever the planner knows of the tables.
     */
    async reportRows(id: string, afterRow: number, throughRow: number): Promise<ReportRow[]> {
      const { rows } = await db.query<ReportRow>(
        `SELECT row, source_id, CASE WHEN created THEN 'created' ELSE 'updated' END AS status,
                NULL AS error_key, NULL AS error_message
         FROM async_action_applied_rows WHERE action_id = $1 AND row > $2 AND row <= $3
         UNION ALL
         SELECT row, source_id, 'failed', $4, reason
         FROM async_action_failures WHERE action_id = $1 AND row > $2 AND row <= $3
         ORDER BY row`,
        [id, afterRow, throughRow, FAILED_ROW_KEY],
      );
      return rows;
    },

    /** Drops the applied rows of a few reports that expired before `now`: the cleanup's step. */
    async dropExpiredReports(now: string, reports = 20): Promise<number> {
      const result = await db.query(
        `WITH expired AS (
           UPDATE async_actions SET report_kept = false
           WHERE id IN (SELECT id FROM async_actions WHERE report_kept AND reports_available_till <= $1::timestamptz
                        ORDER BY reports_available_till LIMIT $2)
           RETURNING id)
         DELETE FROM async_action_applied_rows USING expired WHERE action_id = expired.id`,
        [now, reports],
      );
      return result.rowCount ?? 0;
    },
  };
}

export type AsyncActionStore = ReturnType<typeof createAsyncActionStore>;
