import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { FastifyBaseLogger } from 'fastify';
import type pg from 'pg';
import type PgBoss from 'pg-boss';
import { to as copyTo } from 'pg-copy-streams';
import { readStoredFilter } from '../customers/filters.js';
import type { MetadataSchemaRules } from '../customers/metadata-rules.js';
import { filterCondition } from '../customers/repository/filters.js';
import type { ExportOrder } from '../schemas/export.js';
import { spreadsheetCsv } from '../spreadsheet-csv.js';
import { timestamp } from '../timestamps.js';
import { withTransaction } from '../transaction.js';
import type { ExportJob, JobQueue } from '../jobs/queue.js';
import type { RunOutcome } from '../jobs/runner.js';
import { CHUNK_BYTES, inChunksOf } from '../jobs/service.js';
import { exportColumn, exportSelect, hasConditions, type ExportColumn } from './columns.js';
import type { ExportRow, ExportStore } from './store.js';

export interface ExportWriterOptions {
  db: pg.Pool;
  exports: ExportStore;
  queue: JobQueue;
  /** Names this worker in the export's row. */
  worker: string;
  /** The customer metadata schema's rules, which type the filter's declared keys. */
  metadataRules: () => Promise<MetadataSchemaRules | undefined>;
  /** How long an export job may run before another worker restarts it. */
  timeoutSeconds: number;
  log: FastifyBaseLogger;
}

/** The file could not commit: the claim it was written under is no longer the export's. */
class TakenOver extends Error {}
/** The worker is stopping: the file is dropped and the export handed on. */
class Stopped extends Error {}

/** The header row, escaped and quoted as the service's other CSV files. */
async function headerRow(fields: readonly string[]): Promise<Buffer> {
  const csv = spreadsheetCsv(fields);
  csv.end();
  const parts: Buffer[] = [];
  for await (const part of csv) parts.push(Buffer.from(part as string));
  return Buffer.concat(parts);
}

async function* csvFile(header: Buffer, rows: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  yield header;
  yield* rows;
}

/** The columns of stored fields, every one checked when the export was accepted. */
const columnsOf = (fields: readonly string[]): ExportColumn[] =>
  fields.map((field) => {
    const column = exportColumn(field);
    if (!column) throw new Error(`export field ${field} is not a field`);
    return column;
  });

/**
 * Writes exports' CSV files. PostgreSQL writes the rows itself (COPY … TO STDOUT, one statement:
 * one snapshot, the export's point in time), and the worker stores them in chunks of 1 MiB in
 * the transaction that ends by marking the export DONE under the worker's claim. A worker that
 * dies or stops leaves no chunk and no DONE: the export is written again from the start by the
 * next job, never resumed from a file of another moment.
 */
export function createExportWriter({ db, exports, queue, worker, metadataRules, timeoutSeconds, log }: ExportWriterOptions) {
  async function select(row: ExportRow): Promise<string> {
    const { fields, order, filters } = row.parameters;
    const condition = hasConditions(filters) ? filterCondition(readStoredFilter(filters, await metadataRules())) : undefined;
    return exportSelect(columnsOf(fields), (order || 'created_at') as ExportOrder, condition);
  }

  /**
   * Writes the file and marks the export DONE, all in one transaction on one connection, or
   * nothing. PostgreSQL's COPY streams the rows into a spool file on local disk; the spool then
   * goes into the database a chunk at a time. Memory holds a chunk, whatever the export's size.
   */
  async function write(job: PgBoss.Job<ExportJob>, row: ExportRow, token: string, stop: AbortSignal): Promise<void> {
    const text = `COPY (${await select(row)}) TO STDOUT WITH (FORMAT csv)`;
    const spool = await mkdtemp(join(tmpdir(), 'customer-export-'));
    const path = join(spool, `${row.id}.csv`);
    try {
      await withTransaction(db, async (tx) => {
        // The COPY runs as long as the table is large: no statement timeout applies to it.
        await tx.query('SET LOCAL statement_timeout = 0');
        const rows = tx.query(copyTo(text));
        await pipeline(csvFile(await headerRow(row.parameters.fields), rows), createWriteStream(path));
        let chunks = 0;
        for await (const chunk of inChunksOf(CHUNK_BYTES, createReadStream(path, { highWaterMark: CHUNK_BYTES }))) {
          if (stop.aborted) throw new Stopped();
          await exports.insertChunk(tx, row.id, chunks, chunk);
          chunks += 1;
        }
        if (!(await exports.finish(tx, row.id, token, { rows: rows.rowCount, chunks }, timestamp()))) throw new TakenOver();
        await queue.complete(job, tx);
      });
    } finally {
      await rm(spool, { recursive: true, force: true });
    }
  }

  return {
    /**
     * Works on an export's job: claims the export, writes its file, and completes the job in
     * the transaction that marks it DONE. A stopping worker hands the export on to a new job.
     */
    async run(job: PgBoss.Job<ExportJob>, stop: AbortSignal): Promise<RunOutcome> {
      const { exportId } = job.data;
      const token = randomUUID();
      const row = await exports.claim(exportId, token, worker, timestamp());
      if (!row) {
        await queue.complete(job);
        return 'finished-before';
      }
      try {
        await write(job, row, token, stop);
        return 'done';
      } catch (error) {
        if (error instanceof Stopped) {
          await withTransaction(db, async (tx) => {
            await queue.sendExport(tx, exportId, timeoutSeconds);
            await queue.complete(job, tx);
          });
          return 'handed-on';
        }
        if (!(error instanceof TakenOver)) throw error;
        // Deleted while it was written: nothing is left to do for the job.
        if (!(await exports.get(exportId))) {
          await queue.complete(job);
          return 'finished-before';
        }
        log.warn({ exportId }, 'export taken over by another worker: its file is written by that one');
        return 'taken-over';
      }
    },
  };
}

export type ExportWriter = ReturnType<typeof createExportWriter>;
