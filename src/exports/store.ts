import { sql } from 'kysely';
import type pg from 'pg';
import { builder, run, statement, statementShapes, timestamptz, wireTime } from '../customers/repository/statements.js';
import type { ExportParameters, ExportStatus } from '../schemas/export.js';
import type { Queryable } from '../transaction.js';

/** An export as stored, its times in the wire format. */
export interface ExportRow {
  id: string;
  status: ExportStatus;
  channel: string;
  parameters: ExportParameters & { fields: string[] };
  error: string | null;
  chunk_count: number | null;
  created_at: string;
  file_available_till: string | null;
}

export interface NewExport {
  id: string;
  channel: string;
  parameters: ExportRow['parameters'];
  requestId: string;
  now: string;
}

const time = (column: 'created_at' | 'file_available_till') => wireTime(sql.ref(`exports.${column}`)).as(column);

const EXPORT_SELECTION = [
  'exports.id',
  sql<ExportStatus>`${sql.ref('exports.status')}`.as('status'),
  'exports.channel',
  sql<ExportRow['parameters']>`${sql.ref('exports.parameters')}`.as('parameters'),
  'exports.error',
  'exports.chunk_count',
  time('created_at'),
  time('file_available_till'),
] as const;

const UNFINISHED: ExportStatus[] = ['SCHEDULED', 'IN_PROGRESS'];

/** Serializes the acceptance of exports, so that two at once never both pass the limit of pending ones. */
const ACCEPTANCE_LOCK = sql`pg_advisory_xact_lock(hashtext('customer-exports'))`;

const LOCK_ACCEPTANCE = statement((_args: { all: true }) => builder.selectNoFrom(ACCEPTANCE_LOCK.as('locked')));

const PENDING = statement((_args: { all: true }) =>
  builder
    .selectFrom('exports')
    .select(sql<number>`count(*)::int`.as('pending'))
    .where('exports.status', 'in', UNFINISHED),
);

const INSERT = statement((args: { id: string; channel: string; parameters: string; requestId: string; now: string }) =>
  builder.insertInto('exports').values({
    id: args.id,
    status: 'SCHEDULED',
    channel: args.channel,
    parameters: sql`${args.parameters}::jsonb`,
    request_id: args.requestId,
    created_at: timestamptz(args.now),
    updated_at: timestamptz(args.now),
  }),
);

const GET = statement((args: { id: string }) =>
  builder.selectFrom('exports').select(EXPORT_SELECTION).where('exports.id', '=', args.id),
);

type ListOrder = 'created_at' | '-created_at' | 'status' | '-status';

const PAGE = statementShapes(
  (order: ListOrder) => order,
  (order: ListOrder, args: { limit: number; offset: number }) => {
    const direction = order.startsWith('-') ? 'desc' : 'asc';
    return builder
      .selectFrom('exports')
      .select(EXPORT_SELECTION)
      .$if(order.endsWith('status'), (query) => query.orderBy('exports.status', direction))
      .orderBy('exports.created_at', direction)
      .orderBy('exports.id', direction)
      .limit(args.limit)
      .offset(args.offset);
  },
);

const COUNT = statement((_args: { all: true }) => builder.selectFrom('exports').select(sql<number>`count(*)::int`.as('total')));

const REMOVE = statement((args: { id: string }) =>
  builder.deleteFrom('exports').where('exports.id', '=', args.id).returning('exports.id'),
);

const REMOVE_FILE = statement((args: { id: string }) =>
  builder.deleteFrom('export_file_chunks').where('export_file_chunks.export_id', '=', args.id),
);

/** Makes `token` the export's only valid claim, unless it has ended: whoever held it before can no longer finish it. */
const CLAIM = statement((args: { id: string; token: string; worker: string; now: string }) =>
  builder
    .updateTable('exports')
    .set({
      status: 'IN_PROGRESS',
      lease_token: args.token,
      worker: args.worker,
      claims: sql`${sql.ref('claims')} + 1`,
      started_at: sql`coalesce(${sql.ref('started_at')}, ${timestamptz(args.now)})`,
      updated_at: timestamptz(args.now),
    })
    .where('exports.id', '=', args.id)
    .where('exports.status', 'in', UNFINISHED)
    .returning(EXPORT_SELECTION),
);

const INSERT_CHUNK = statement((args: { id: string; seq: number; data: Buffer }) =>
  builder.insertInto('export_file_chunks').values({ export_id: args.id, seq: args.seq, data: args.data }),
);

/** DONE under a valid claim, the file kept for the retention from now. */
const FINISH = statement(
  (args: { id: string; token: string; rows: number; chunks: number; now: string; retentionHours: number }) =>
    builder
      .updateTable('exports')
      .set({
        status: 'DONE',
        lease_token: null,
        row_count: args.rows,
        chunk_count: args.chunks,
        updated_at: timestamptz(args.now),
        finished_at: timestamptz(args.now),
        file_available_till: sql`${timestamptz(args.now)} + make_interval(hours => ${args.retentionHours}::int)`,
      })
      .where('exports.id', '=', args.id)
      .where('exports.lease_token', '=', args.token)
      .where('exports.status', '=', 'IN_PROGRESS')
      .returning('exports.id'),
);

/** ERROR, whoever holds the claim. */
const FAIL = statement((args: { id: string; error: string; now: string }) =>
  builder
    .updateTable('exports')
    .set({
      status: 'ERROR',
      lease_token: null,
      error: args.error,
      updated_at: timestamptz(args.now),
      finished_at: timestamptz(args.now),
    })
    .where('exports.id', '=', args.id)
    .where('exports.status', 'in', UNFINISHED)
    .returning('exports.id'),
);

const READ_CHUNK = statement((args: { id: string; seq: number }) =>
  builder
    .selectFrom('export_file_chunks')
    .select('export_file_chunks.data')
    .where('export_file_chunks.export_id', '=', args.id)
    .where('export_file_chunks.seq', '=', args.seq),
);

/** A few files whose retention ended before `now`: their exports keep their rows, with no file. */
const DROP_EXPIRED = statement((args: { now: string; files: number }) =>
  builder
    .with('expired', (db) =>
      db
        .updateTable('exports')
        .set({ chunk_count: null })
        .where(
          'exports.id',
          'in',
          builder
            .selectFrom('exports')
            .select('exports.id')
            .where('exports.chunk_count', 'is not', null)
            .where('exports.file_available_till', '<=', timestamptz(args.now))
            .limit(args.files),
        )
        .returning('exports.id'),
    )
    .deleteFrom('export_file_chunks')
    .using('expired')
    .whereRef('export_file_chunks.export_id', '=', 'expired.id'),
);

/** The exports' rows, and their files in chunks of at most 1 MiB. */
export function createExportStore(db: pg.Pool, { retentionHours }: { retentionHours: number }) {
  return {
    /** Stores a SCHEDULED export in `tx`, unless `maxPending` are unfinished: then false, and nothing is stored. */
    async insert(tx: Queryable, row: NewExport, maxPending: number): Promise<boolean> {
      await run(tx, LOCK_ACCEPTANCE, { all: true });
      const [{ pending }] = (await run(tx, PENDING, { all: true })) as [{ pending: number }];
      if (pending >= maxPending) return false;
      await run(tx, INSERT, { ...row, parameters: JSON.stringify(row.parameters) });
      return true;
    },

    get: async (id: string): Promise<ExportRow | undefined> => (await run(db, GET, { id }))[0],

    async list(order: ListOrder, limit: number, offset: number): Promise<{ rows: ExportRow[]; total: number }> {
      const [rows, [counted]] = await Promise.all([run(db, PAGE(order), { limit, offset }), run(db, COUNT, { all: true })]);
      return { rows, total: counted!.total };
    },

    /** Removes an export with its file; false when there was none. */
    async remove(tx: Queryable, id: string): Promise<boolean> {
      if ((await run(tx, REMOVE, { id })).length === 0) return false;
      await run(tx, REMOVE_FILE, { id });
      return true;
    },

    claim: async (id: string, token: string, worker: string, now: string): Promise<ExportRow | undefined> =>
      (await run(db, CLAIM, { id, token, worker, now }))[0],

    async insertChunk(tx: Queryable, id: string, seq: number, data: Buffer): Promise<void> {
      await run(tx, INSERT_CHUNK, { id, seq, data });
    },

    /** DONE, in the transaction that wrote the file; false when the claim is no longer the export's (the caller rolls back). */
    finish: async (tx: Queryable, id: string, token: string, file: { rows: number; chunks: number }, now: string) =>
      (await run(tx, FINISH, { id, token, ...file, now, retentionHours })).length === 1,

    fail: async (tx: Queryable, id: string, error: string, now: string): Promise<boolean> =>
      (await run(tx, FAIL, { id, error, now })).length === 1,

    readChunk: async (id: string, seq: number): Promise<Buffer | undefined> => (await run(db, READ_CHUNK, { id, seq }))[0]?.data,

    /** Drops the chunks of a few files whose retention ended: the cleanup's step. */
    async dropExpiredFiles(now: string, files = 20): Promise<void> {
      await run(db, DROP_EXPIRED, { now, files });
    },
  };
}

export type ExportStore = ReturnType<typeof createExportStore>;
