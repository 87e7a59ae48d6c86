import type { Hash } from 'node:crypto';
import { pipeline, Readable } from 'node:stream';
import type pg from 'pg';
import type { RowFailure } from '../customers/bulk.js';
import { ApiError, multipartLimitError, notFound } from '../errors.js';
import { queryTimestamp, timestamp } from '../timestamps.js';
import { newAsyncActionId } from '../ids.js';
import {
  hasReport,
  OPERATION_STATUS,
  REPORT_COLUMNS,
  type AsyncAction,
  type AsyncActionAccepted,
  type AsyncActionList,
  type AsyncActionListQuery,
  type AsyncActionResult,
  type AsyncActionSummary,
  type AsyncActionType,
} from '../schemas/async-action.js';
import { spreadsheetCsv } from '../spreadsheet-csv.js';
import { afterCommit, withTransaction } from '../transaction.js';
import { readHeader } from './csv.js';
import type { JobQueue } from './queue.js';
import type { ReportLinks } from './report-links.js';
import { FAILED_ROW_KEY, type AsyncActionRow, type AsyncActionStore, type NewAsyncAction } from './store.js';

/** Rows of a report read from the database at a time, while the download streams. */
const REPORT_PAGE_ROWS = 1000;

/** Uploads are stored in chunks of this size: memory holds one, whatever the file size. */
export const CHUNK_BYTES = 1024 * 1024;
/** An upload still unfinished after this long was left by a process that died. */
const ABANDONED_UPLOAD_MS = 60 * 60 * 1000;

/** A stream in pieces of exactly `size` bytes, the last one shorter. */
export async function* inChunksOf(size: number, stream: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  let pending: Buffer[] = [];
  let length = 0;
  for await (const data of stream) {
    pending.push(data);
    length += data.length;
    while (length >= size) {
      const all = Buffer.concat(pending, length);
      yield all.subarray(0, size);
      pending = [all.subarray(size)];
      length -= size;
    }
  }
  if (length > 0) yield Buffer.concat(pending, length);
}

/**
 * The upload's data; a body that breaks off or breaks the multipart format is the client's
 * error, and so is one with more parts than its limits allow.
 */
async function* received(file: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  try {
    yield* file;
  } catch (error) {
    throw (
      multipartLimitError(error) ??
      new ApiError(400, { details: 'The multipart/form-data body is malformed or ends before the file does' })
    );
  }
}

/** An uploaded file as @fastify/multipart streams it: `truncated` once it went over the size limit. */
export type UploadedFile = Readable & { truncated?: boolean };

export interface AsyncActionServiceOptions {
  db: pg.Pool;
  actions: AsyncActionStore;
  queue: JobQueue;
  /** Called once a job is queued, to wake this process's idle workers. */
  queued: () => void;
  reportLinks: ReportLinks;
}

const summaryMessage = (type: AsyncActionType, done: number, failed: number) =>
  type === 'CUSTOMERS.IMPORT_CSV'
    ? `${done} customer(s) imported successfully, ${failed} failed.`
    : `${done} customer(s) updated successfully, ${failed} failed.`;

/**
 * An exact account of what a FAILED action applied. An import applied in lanes may have gone on
 * in one lane further than in another: every row up to the least lane position was processed,
 * none after the furthest.
 */
function failureMessage(row: AsyncActionRow): string {
  const furthest = Math.max(row.position, ...row.lane_positions);
  const processed =
    furthest > row.position
      ? `The first ${row.position} input row(s) were processed, and some of the rows after them up to row ${furthest}`
      : `The first ${row.position} input row(s) were processed`;
  const after = furthest > row.position ? `No row after row ${furthest} was applied.` : 'No later row was applied.';
  return `${row.error ?? 'Processing stopped.'} ${processed}: ${row.done_count} customer(s) written, ${row.failed_count} row(s) failed. ${after}`;
}

/** Percent of the input processed: 100 only once DONE. */
const progressOf = (row: AsyncActionRow): number =>
  row.status === 'DONE' ? 100 : row.input_size === 0 ? 0 : Math.min(99, Math.floor((100 * row.input_read) / row.input_size));

function summarize(row: AsyncActionRow, now = Date.now()): AsyncActionSummary {
  const processingEnd = row.finished_at ? Date.parse(row.finished_at) : now;
  return {
    id: row.id,
    type: row.type,
    status: row.status,
    operation_status: OPERATION_STATUS[row.status],
    created_at: row.created_at,
    updated_at: row.updated_at,
    request_id: row.request_id,
    progress: progressOf(row),
    processing_time: row.started_at ? Math.max(0, processingEnd - Date.parse(row.started_at)) : 0,
    object: 'async_action',
  };
}

/** An ended action's report link and expiry; before the end, no link yet. */
function reportFields(row: AsyncActionRow, links: ReportLinks): Pick<AsyncActionResult, 'reports' | 'reports_available_till'> {
  const till = row.reports_available_till;
  return till === null ? { reports: [] } : { reports: [links.url(row.id, till)], reports_available_till: till };
}

function result(row: AsyncActionRow, failures: RowFailure[], links: ReportLinks): AsyncActionResult {
  const failed = failures.map(({ row: at, sourceId, reason }) => ({ source_id: sourceId ?? '', row: at, reason }));
  return {
    ...(row.status === 'DONE' && { message: summaryMessage(row.type, row.done_count, row.failed_count) }),
    ...(row.status === 'FAILED' && { message: failureMessage(row) }),
    done_count: row.done_count,
    failed_count: row.failed_count,
    failed,
    ...(row.type !== 'CUSTOMERS.IMPORT_CSV' && {
      errors: failed.map(({ source_id, reason }) => ({
        key: FAILED_ROW_KEY,
        message: 'Invalid payload',
        details: reason,
        source_id,
      })),
    }),
    ...(hasReport(row.type) && reportFields(row, links)),
  };
}

export function createAsyncActionService({ db, actions, queue, queued, reportLinks }: AsyncActionServiceOptions) {
  /** A report's rows, a page at a time: memory holds one page, whatever the report's size. */
  async function* reportRows({ id, position }: AsyncActionRow) {
    for (let afterRow = 0; afterRow < position; afterRow += REPORT_PAGE_ROWS) {
      yield* await actions.reportRows(id, afterRow, afterRow + REPORT_PAGE_ROWS);
    }
  }

  /** Creates the action with its input and its job, all or nothing. */
  async function accept(
    action: Omit<NewAsyncAction, 'id' | 'status' | 'now'>,
    items: readonly unknown[],
  ): Promise<AsyncActionAccepted> {
    const id = newAsyncActionId();
    await withTransaction(db, async (tx) => {
      await actions.insert(tx, { ...action, id, status: 'ENQUEUED', now: timestamp() });
      await actions.insertItems(tx, id, items);
      await queue.send(tx, id);
    });
    afterCommit(queued);
    return { async_action_id: id };
  }

  /**
   * Stores an upload chunk by chunk, checking its header row first. The action stays hidden
   * (UPLOADING) until the whole file is stored, then joins the queue.
   */
  async function storeUpload(id: string, file: UploadedFile, digest?: Hash): Promise<number> {
    let size = 0;
    let seq = 0;
    for await (const chunk of inChunksOf(CHUNK_BYTES, received(file))) {
      digest?.update(chunk);
      if (seq === 0) readHeader(chunk, chunk.length < CHUNK_BYTES);
      await actions.insertChunk(id, seq, chunk);
      seq += 1;
      size += chunk.length;
    }
    if (file.truncated) throw new ApiError(413, { details: 'The file is larger than 10 MiB' });
    if (size === 0) throw new ApiError(400, { details: 'The CSV file is empty' });
    return size;
  }

  return {
    acceptBulkUpdate: (customers: readonly unknown[], requestId: string) =>
      accept({ type: 'CUSTOMERS.BULK_UPDATE', requestId, inputSize: customers.length }, customers),

    acceptMetadataUpdate: (
      { source_ids: sourceIds, metadata }: { source_ids: readonly unknown[]; metadata: Record<string, unknown> },
      requestId: string,
    ) => accept({ type: 'CUSTOMERS.METADATA_UPDATE', requestId, params: { metadata }, inputSize: sourceIds.length }, sourceIds),

    /** Queues the import of an uploaded file; `digest`, when given, is fed the file's content as it is read. */
    async acceptCsvImport(file: UploadedFile, requestId: string, digest?: Hash): Promise<AsyncActionAccepted> {
      await actions.removeAbandonedUploads(timestamp(new Date(Date.now() - ABANDONED_UPLOAD_MS)));
      const id = newAsyncActionId();
      await actions.insert(db, {
        id,
        type: 'CUSTOMERS.IMPORT_CSV',
        status: 'UPLOADING',
        requestId,
        inputSize: 0,
        now: timestamp(),
      });
      let size: number;
      try {
        size = await storeUpload(id, file, digest);
      } catch (error) {
        await actions.removeUpload(id);
        // Read the rest of the request, so that the client gets the answer instead of a reset connection.
        file.resume();
        throw error;
      }
      await withTransaction(db, async (tx) => {
        await actions.markUploaded(tx, id, size, timestamp());
        await queue.send(tx, id);
      });
      afterCommit(queued);
      return { async_action_id: id };
    },

    async get(id: string): Promise<AsyncAction> {
      const row = await actions.get(id);
      if (!row) throw notFound('async_action', id);
      return { ...summarize(row), result: result(row, await actions.failures(id), reportLinks) };
    },

    /**
     * The CSV report of an ended bulk or metadata update, streamed, for a link this service
     * signed and that has not expired. Any other link, forged, expired or for an action without
     * a report, finds nothing.
     */
    async report(id: string, token: string): Promise<Readable> {
      const expiresAt = reportLinks.signedExpiry(id, token);
      const row = expiresAt !== undefined && expiresAt > Date.now() ? await actions.get(id) : undefined;
      const till = row?.reports_available_till;
      if (!row || !hasReport(row.type) || !till || Date.parse(till) !== expiresAt) throw notFound('report', id);
      const csv = spreadsheetCsv(REPORT_COLUMNS);
      // A failure mid-way (the database gone) ends the download early, and the client sees it cut.
      pipeline(Readable.from(reportRows(row)), csv, () => undefined);
      return csv;
    },

    async list(query: AsyncActionListQuery): Promise<AsyncActionList> {
      const limit = query.limit ?? 10;
      const createdBefore = query.end_date === undefined ? undefined : queryTimestamp(query.end_date);
      const rows = await actions.list({ limit, createdBefore });
      const now = Date.now();
      return {
        object: 'list',
        data_ref: 'async_actions',
        async_actions: rows.slice(0, limit).map((row) => summarize(row, now)),
        has_more: rows.length > limit,
      };
    },
  };
}

export type AsyncActionService = ReturnType<typeof createAsyncActionService>;
