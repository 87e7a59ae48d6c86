import { sql, type SqlBool } from 'kysely';
import type pg from 'pg';
import type { SegmentType } from '../../schemas/segment.js';
import { withTransaction } from '../../transaction.js';
import type { FilterGroup } from '../filters.js';
import { customerColumn, isLive } from './columns.js';
import type { CustomerMatch } from './customers.js';
import { filterCondition } from './filters.js';
import { builder, run, runOnce, statement, wireTime } from './statements.js';

/** A segment as stored, its time in the wire format. */
export interface SegmentRow {
  id: string;
  name: string;
  type: SegmentType;
  filter: Record<string, unknown> | null;
  created_at: string;
}

const SEGMENT_SELECTION = [
  'segments.id',
  'segments.name',
  sql<SegmentType>`${sql.ref('segments.type')}`.as('type'),
  sql<Record<string, unknown> | null>`${sql.ref('segments.filter')}`.as('filter'),
  wireTime(sql.ref('segments.created_at')).as('created_at'),
] as const;

const GET = statement((args: { id: string }) =>
  builder.selectFrom('segments').select(SEGMENT_SELECTION).where('segments.id', '=', args.id),
);

const PAGE = statement((args: { limit: number; offset: number }) =>
  builder
    .selectFrom('segments')
    .select(SEGMENT_SELECTION)
    .orderBy('segments.created_at', 'desc')
    .orderBy('segments.id', 'desc')
    .limit(args.limit)
    .offset(args.offset),
);

const COUNT = statement((_args: { all: true }) => builder.selectFrom('segments').select(sql<number>`count(*)::int`.as('total')));

const INSERT = statement((args: { id: string; name: string; type: string; filter: string | null; createdAt: string }) =>
  builder.insertInto('segments').values({
    id: args.id,
    name: args.name,
    type: args.type,
    filter: sql`${args.filter}::jsonb`,
    created_at: sql`${args.createdAt}::timestamptz`,
  }),
);

/** The live customers named by `keys` (ids or source_ids), locked so none is deleted before it is listed. */
const LIVE_BY_KEYS = statement((args: { keys: string[] }) =>
  builder
    .selectFrom('customers')
    .select(['customers.id', 'customers.source_id'])
    .where(isLive)
    .where((eb) =>
      eb.or([
        eb('customers.id', '=', sql<string>`ANY(${args.keys}::text[])`),
        eb('customers.source_id', '=', sql<string>`ANY(${args.keys}::text[])`),
      ]),
    )
    .forShare(),
);

/** Lists customers in a segment, with their created_at, by which its pages are read. */
const INSERT_MEMBERS = statement((args: { segmentId: string; customerIds: string[] }) =>
  builder
    .insertInto('segment_members')
    .columns(['segment_id', 'customer_id', 'created_at'])
    .expression(
      builder
        .selectFrom('customers')
        .select([sql<string>`${args.segmentId}::text`.as('segment_id'), 'customers.id', 'customers.created_at'])
        .where('customers.id', '=', sql<string>`ANY(${args.customerIds}::text[])`),
    )
    .onConflict((conflict) => conflict.doNothing()),
);

const REMOVE = statement((args: { id: string }) =>
  builder.deleteFrom('segments').where('segments.id', '=', args.id).returning('segments.id'),
);

/** The static segments that list a customer. */
const STATIC_OF_CUSTOMER = statement((args: { customerId: string }) =>
  builder
    .selectFrom('segment_members')
    .innerJoin('segments', 'segments.id', 'segment_members.segment_id')
    .select(SEGMENT_SELECTION)
    .where('segment_members.customer_id', '=', args.customerId),
);

const AUTO_UPDATE = statement((_args: { all: true }) =>
  builder.selectFrom('segments').select(SEGMENT_SELECTION).where('segments.type', '=', 'auto-update'),
);

/** Auto-update segments evaluated by one statement, well under PostgreSQL's 1,664 result columns. */
const SEGMENTS_PER_STATEMENT = 500;

/**
 * Static membership as a condition on customers (listed in the segment), and as the members'
 * rows: a segment lists live customers only (a delete takes the customer out, see the migration
 * index_declared_metadata), in created_at order, and counts them.
 */
export function listedIn(segmentId: string): CustomerMatch {
  return {
    condition: sql<SqlBool>`${customerColumn('id')} IN (SELECT ${sql.ref('segment_members.customer_id')} FROM ${sql.table('segment_members')}
      WHERE ${sql.ref('segment_members.segment_id')} = ${segmentId}::text)`,
    members: {
      total: builder
        .selectFrom('segments')
        .select(sql<number>`${sql.ref('segments.live_members')}`.as('total'))
        .where('segments.id', '=', segmentId),
      ordered: { table: 'segment_members', where: sql<SqlBool>`segment_id = ${segmentId}::text` },
    },
  };
}

/** Segments of customers: static ones list them, auto-update ones hold a filter every read evaluates. */
export function segmentStore(db: pg.Pool) {
  return {
    get: async (id: string): Promise<SegmentRow | undefined> => (await run(db, GET, { id }))[0],

    async list(limit: number, offset: number): Promise<{ segments: SegmentRow[]; total: number }> {
      const [segments, [counted]] = await Promise.all([run(db, PAGE, { limit, offset }), run(db, COUNT, { all: true })]);
      return { segments, total: counted!.total };
    },

    /**
     * Stores a segment; a static one with its customers, named by id or source_id. Answers the
     * keys that name no live customer (then nothing is stored), or none.
     */
    async insert(segment: SegmentRow, customerKeys: readonly string[]): Promise<{ unknownKeys: string[] }> {
      return withTransaction(db, async (tx) => {
        const keys = [...new Set(customerKeys)];
        const found = keys.length === 0 ? [] : await run(tx, LIVE_BY_KEYS, { keys });
        const known = new Set(found.flatMap((customer) => [customer.id, customer.source_id]));
        const unknownKeys = keys.filter((key) => !known.has(key));
        if (unknownKeys.length > 0) return { unknownKeys };
        await run(tx, INSERT, {
          id: segment.id,
          name: segment.name,
          type: segment.type,
          filter: segment.filter === null ? null : JSON.stringify(segment.filter),
          createdAt: segment.created_at,
        });
        if (found.length > 0) await run(tx, INSERT_MEMBERS, { segmentId: segment.id, customerIds: found.map(({ id }) => id) });
        return { unknownKeys: [] };
      });
    },

    remove: async (id: string): Promise<boolean> => (await run(db, REMOVE, { id })).length > 0,

    /**
     * The segments a live customer is in now: the static ones that list it, and the auto-update
     * ones whose filter (read by `read`) it matches, all evaluated by one statement on its row.
     */
    async ofCustomer(customerId: string, read: (segment: SegmentRow) => FilterGroup): Promise<SegmentRow[]> {
      const [listed, automatic] = await Promise.all([
        run(db, STATIC_OF_CUSTOMER, { customerId }),
        run(db, AUTO_UPDATE, { all: true }),
      ]);
      // A statement returns at most 1,664 columns: the filters go a few hundred at a time.
      const matched = new Set<number>();
      for (let start = 0; start < automatic.length; start += SEGMENTS_PER_STATEMENT) {
        const chunk = automatic.slice(start, start + SEGMENTS_PER_STATEMENT);
        const [row] = await runOnce(
          db,
          builder
            .selectFrom('customers')
            .select(chunk.map((segment, index) => filterCondition(read(segment)).as(`s${index}`)))
            .where('customers.id', '=', customerId),
        );
        chunk.forEach((_segment, index) => {
          if ((row as Record<string, boolean> | undefined)?.[`s${index}`] === true) matched.add(start + index);
        });
      }
      return [...listed, ...automatic.filter((_segment, index) => matched.has(index))];
    },
  };
}
