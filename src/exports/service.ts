import { Readable } from 'node:stream';
import type pg from 'pg';
import { readCustomerFilter } from '../customers/filters.js';
import type { MetadataSchemaRules } from '../customers/metadata-rules.js';
import { ApiError, notFound } from '../errors.js';
import { newExportId } from '../ids.js';
import type { JobQueue } from '../jobs/queue.js';
import {
  DEFAULT_EXPORT_FIELDS,
  EXPORT_CUSTOMER_FIELDS,
  type Export,
  type ExportCreateBody,
  type ExportList,
  type ExportListQuery,
} from '../schemas/export.js';
import type { DownloadLinks } from '../signed-links.js';
import { timestamp } from '../timestamps.js';
import { afterCommit, withTransaction } from '../transaction.js';
import { exportColumn, hasConditions } from './columns.js';
import type { ExportRow, ExportStore } from './store.js';

export interface ExportServiceOptions {
  db: pg.Pool;
  exports: ExportStore;
  queue: JobQueue;
  /** Called once a job is queued, to wake this process's idle workers. */
  queued: () => void;
  links: DownloadLinks;
  metadataRules: () => Promise<MetadataSchemaRules | undefined>;
  /** Exports SCHEDULED or IN_PROGRESS at most, and how long an export job may run. */
  limits: { maxPending: number; timeoutSeconds: number };
}

/** When a client refused for too many pending exports may try again. */
const RETRY_AFTER_SECONDS = 30;

const ALLOWED_FIELDS = `${EXPORT_CUSTOMER_FIELDS.join(', ')}, metadata.<key>`;

/**
 * A filter with its junctions in the reference's lower case (`AND`, as the SDK's types write it,
 * becomes `and`): the language reads both, and the export shows it as Voucherify does.
 */
const withLowerCaseJunctions = (value: unknown): unknown => {
  if (Array.isArray(value)) return value.map(withLowerCaseJunctions);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, inner]) => [
      key,
      key === 'junction' && typeof inner === 'string' ? inner.toLowerCase() : withLowerCaseJunctions(inner),
    ]),
  );
};

/**
 * Customer exports: accepted as jobs on the queue (at most `maxPending` unfinished at once),
 * written by the workers (writer.ts), downloaded through a signed link.
 */
export function createExportService({ db, exports, queue, queued, links, metadataRules, limits }: ExportServiceOptions) {
  const present = (row: ExportRow): Export => ({
    id: row.id,
    object: 'export',
    created_at: row.created_at,
    status: row.status,
    channel: row.channel,
    exported_object: 'customer',
    parameters: row.parameters,
    result: row.status === 'DONE' && row.file_available_till ? { url: links.url(row.id, row.file_available_till) } : null,
    user_id: null,
  });

  return {
    async create({ exported_object: exported, parameters = {} }: ExportCreateBody, requestId: string): Promise<Export> {
      if (exported !== 'customer') {
        throw new ApiError(400, {
          details: `Property .exported_object must be customer: only customers are exported here, not ${JSON.stringify(exported)}`,
        });
      }
      const fields = parameters.fields ?? [...DEFAULT_EXPORT_FIELDS];
      const unknown = fields.filter((field) => exportColumn(field) === undefined);
      if (unknown.length > 0) {
        throw new ApiError(400, {
          key: 'invalid_export_fields',
          message: 'Invalid Export',
          details: `Unsupported field(s) in .parameters.fields: ${unknown.map((field) => JSON.stringify(field)).join(', ')}. Allowed fields: ${ALLOWED_FIELDS}`,
        });
      }
      if (hasConditions(parameters.filters)) {
        readCustomerFilter(parameters.filters, 'Property .parameters.filters', 'body', await metadataRules());
      }
      const now = timestamp();
      const row: ExportRow = {
        id: newExportId(),
        status: 'SCHEDULED',
        channel: 'API',
        parameters: {
          ...parameters,
          fields,
          ...(parameters.filters && { filters: withLowerCaseJunctions(parameters.filters) as Record<string, unknown> }),
        },
        error: null,
        chunk_count: null,
        created_at: now,
        file_available_till: null,
      };
      await withTransaction(db, async (tx) => {
        const accepted = await exports.insert(tx, { ...row, requestId, now }, limits.maxPending);
        if (!accepted) {
          throw new ApiError(429, {
            details: `${limits.maxPending} exports are already scheduled or in progress: try again once one is done`,
            retryAfter: RETRY_AFTER_SECONDS,
          });
        }
        await queue.sendExport(tx, row.id, limits.timeoutSeconds);
      });
      afterCommit(queued);
      return present(row);
    },

    async get(id: string): Promise<Export> {
      const row = await exports.get(id);
      if (!row) throw notFound('export', id);
      return present(row);
    },

    async list({ limit = 10, page = 1, order = '-created_at' }: ExportListQuery): Promise<ExportList> {
      const { rows, total } = await exports.list(order, limit, (page - 1) * limit);
      return { object: 'list', data_ref: 'exports', exports: rows.map(present), total };
    },

    /** Removes the export and its file: its link answers 404 from now on. */
    async remove(id: string): Promise<void> {
      if (!(await withTransaction(db, (tx) => exports.remove(tx, id)))) throw notFound('export', id);
    },

    /**
     * The CSV file of a DONE export, streamed a chunk at a time, for a link this service signed
     * and that has not expired. Any other link, forged, expired or of a deleted export, finds nothing.
     */
    async download(id: string, token: string): Promise<Readable> {
      const expiresAt = links.signedExpiry(id, token);
      const row = expiresAt !== undefined && expiresAt > Date.now() ? await exports.get(id) : undefined;
      const till = row?.file_available_till;
      const chunks = row?.chunk_count;
      if (!row || row.status !== 'DONE' || !till || Date.parse(till) !== expiresAt || chunks == null) {
        throw notFound('export', id);
      }
      async function* file() {
        for (let seq = 0; seq < chunks!; seq += 1) {
          const data = await exports.readChunk(id, seq);
          // Deleted while it downloads: the client sees the file cut.
          if (!data) throw new Error(`export ${id} was deleted while it was downloaded`);
          yield data;
        }
      }
      return Readable.from(file(), { objectMode: false });
    },
  };
}

export type ExportService = ReturnType<typeof createExportService>;
