import { sql, type Expression, type ExpressionBuilder, type RawBuilder, type SelectQueryBuilder, type SqlBool } from 'kysely';
import type pg from 'pg';
import type { DB } from '../../generated/kysely/types.js';
import type { CustomerOrder } from '../../schemas/customer.js';
import { withTransaction } from '../../transaction.js';
import { CUSTOMER_SELECTION, customerColumn, deletedSourceIdSuffix, isLive, type CustomerRow } from './columns.js';
import { builder, run, runBuilt, runOnce, statement, statementShapes, timestamptz } from './statements.js';

/**
 * The live customers a list's condition matches, by tables that have them: their exact count,
 * and, when one index gives them in created_at order (a static segment's members, the customers
 * with one value of a declared metadata key), their rows (customer_id, created_at). A list
 * filtered by that condition alone takes the count as its total and reads its page's rows from
 * that index, so neither reads more than a page of the customers table.
 */
export interface CustomerSet {
  total: SelectQueryBuilder<DB, keyof DB, { total: number }>;
  ordered?: { table: 'segment_members' | 'customer_metadata_values'; where: RawBuilder<SqlBool> };
}

/** A condition on customers, and the customers it matches when an index has them. */
export interface CustomerMatch {
  condition: Expression<SqlBool>;
  members?: CustomerSet;
}

export interface CustomerFilters {
  email?: string;
  name?: string;
  city?: string;
  createdBefore?: string;
  createdAfter?: string;
  updatedBefore?: string;
  updatedAfter?: string;
  /** A filter of the filter language (or a segment's), compiled: its lists run as unnamed statements. */
  condition?: Expression<SqlBool>;
  /** The customers the condition matches, when an index has them: see CustomerSet. */
  members?: CustomerSet;
}

export type CustomerPage =
  | { kind: 'offset'; offset: number }
  /** Customers strictly before (descending) or after (ascending) this created_at. */
  | { kind: 'cursor'; startingAfter: string };

export interface CustomerListRequest {
  filters: CustomerFilters;
  order: CustomerOrder;
  limit: number;
  page: CustomerPage;
}

/** The live customer with this `id`, or else this `source_id` (an id wins when both match different customers). */
export const liveByKey = (key: string | Expression<string>) =>
  builder
    .selectFrom('customers')
    .select('customers.id')
    .where(isLive)
    .where((eb) => eb.or([eb('customers.id', '=', key), eb('customers.source_id', '=', key)]))
    .orderBy(sql`${customerColumn('id')} = ${key}`, 'desc')
    .limit(sql.lit(1));

const GET = statement((args: { key: string }) =>
  builder.selectFrom('customers').select(CUSTOMER_SELECTION).where('customers.id', '=', liveByKey(args.key)).where(isLive),
);

/** The list orders: the id breaks ties; never-updated customers and those without a source_id sort last both ways. */
const ORDER_COLUMN = { created_at: 'created_at', updated_at: 'updated_at', source_id: 'source_id' } as const;

type CustomersQuery<Row> = SelectQueryBuilder<DB, 'customers', Row>;

function ordered<Row>(query: CustomersQuery<Row>, order: CustomerOrder): CustomersQuery<Row> {
  const descending = order.startsWith('-');
  const column = ORDER_COLUMN[(descending ? order.slice(1) : order) as keyof typeof ORDER_COLUMN];
  const direction = descending ? 'desc' : 'asc';
  return query
    .orderBy(`customers.${column}`, (by) => (column === 'created_at' ? by[direction]() : by[direction]().nullsLast()))
    .orderBy('customers.id', direction);
}

function matching(eb: ExpressionBuilder<DB, 'customers'>, filters: CustomerFilters) {
  const conditions: Array<Expression<SqlBool>> = [isLive];
  if (filters.email !== undefined) conditions.push(eb('customers.email', '=', filters.email));
  if (filters.name !== undefined) conditions.push(eb('customers.name', '=', filters.name));
  if (filters.city !== undefined) conditions.push(eb(sql`${customerColumn('address')} ->> 'city'`, '=', filters.city));
  if (filters.createdBefore) conditions.push(eb('customers.created_at', '<', timestamptz(filters.createdBefore)));
  if (filters.createdAfter) conditions.push(eb('customers.created_at', '>', timestamptz(filters.createdAfter)));
  if (filters.updatedBefore) conditions.push(eb('customers.updated_at', '<', timestamptz(filters.updatedBefore)));
  if (filters.updatedAfter) conditions.push(eb('customers.updated_at', '>', timestamptz(filters.updatedAfter)));
  if (filters.condition) conditions.push(filters.condition);
  return eb.and(conditions);
}

/** The set of customers a list is read from, when it is filtered by the set's condition alone. */
const bySetAlone = (used: readonly FilterName[], args: CustomerFilters): CustomerSet | undefined =>
  used.length === 1 && used[0] === 'condition' ? args.members : undefined;

/** Which filters a list has: a statement's shape depends on them, not on their values. */
const FILTERS = [
  'email',
  'name',
  'city',
  'createdBefore',
  'createdAfter',
  'updatedBefore',
  'updatedAfter',
  'condition',
] as const satisfies ReadonlyArray<keyof CustomerFilters>;
type FilterName = (typeof FILTERS)[number];

const filtersUsed = (filters: CustomerFilters): FilterName[] => FILTERS.filter((filter) => filters[filter] !== undefined);

/** The filters a shape has, as stand-ins for their values. */
const shapeFilters = (used: readonly FilterName[], args: CustomerFilters): CustomerFilters =>
  Object.fromEntries(used.map((filter) => [filter, args[filter]]));

/**
 * How many live customers match the filters. With no filter, or a city alone, the answer is a
 * sum over a few rows of customer_counts (kept exact by triggers): the same cost at any table
 * size. Other filters count the matching rows through their index.
 */
function countQuery(used: readonly FilterName[], args: CustomerFilters) {
  const members = bySetAlone(used, args);
  if (members) return builder.selectNoFrom(sql<number>`(${members.total})::int`.as('total'));
  if (used.length === 0 || (used.length === 1 && used[0] === 'city')) {
    return builder
      .selectFrom('customer_counts')
      .select(sql<number>`coalesce(sum(${sql.ref('customer_counts.live')}), 0)::int`.as('total'))
      .where('customer_counts.dimension', '=', used.length === 0 ? 'all' : 'city')
      .$if(used.length === 1, (query) => query.where('customer_counts.value', '=', args.city!));
  }
  return builder
    .selectFrom('customers')
    .select(sql<number>`count(*)::int`.as('total'))
    .where((eb) => matching(eb, shapeFilters(used, args)));
}
const COUNT = statementShapes((used: readonly FilterName[]) => used.join(','), countQuery);

interface PageShape {
  used: readonly FilterName[];
  order: CustomerOrder;
  kind: CustomerPage['kind'];
}

type PageArgs = CustomerFilters & { startingAfter: string; offset: number; limit: number };

/**
 * A page of live customers: one more than asked for, to know whether more follow. A list read
 * from an ordered set of customers takes the page's rows from the set's index, then their customers.
 */
function pageQuery({ used, order, kind }: PageShape, args: PageArgs) {
  const descending = order.startsWith('-');
  const before = descending ? '<' : '>';
  const indexed = order.endsWith('created_at') ? bySetAlone(used, args)?.ordered : undefined;
  if (indexed) {
    const direction = sql.raw(descending ? 'DESC' : 'ASC');
    const after = kind === 'cursor' ? sql`AND created_at ${sql.raw(before)} ${timestamptz(args.startingAfter)}` : sql``;
    const offset = kind === 'offset' ? sql`OFFSET ${args.offset}::int` : sql``;
    const rows = sql<{ customer_id: string; created_at: Date }>`(SELECT customer_id, created_at FROM ${sql.table(indexed.table)}
      WHERE ${indexed.where} ${after} ORDER BY created_at ${direction}, customer_id ${direction} LIMIT ${args.limit}::int ${offset})`;
    return builder
      .selectFrom(rows.as('members'))
      .innerJoin('customers', 'customers.id', 'members.customer_id')
      .select(CUSTOMER_SELECTION)
      .orderBy('members.created_at', descending ? 'desc' : 'asc')
      .orderBy('members.customer_id', descending ? 'desc' : 'asc');
  }
  return ordered(
    builder
      .selectFrom('customers')
      .select(CUSTOMER_SELECTION)
      .where((eb) => matching(eb, shapeFilters(used, args)))
      .$if(kind === 'cursor', (query) => query.where('customers.created_at', before, timestamptz(args.startingAfter))),
    order,
  )
    .limit(args.limit)
    .$if(kind === 'offset', (query) => query.offset(args.offset));
}
const PAGE = statementShapes(({ used, order, kind }: PageShape) => `${used.join(',')}|${order}|${kind}`, pageQuery);

/**
 * A customer to erase, locked, with the source_id it had while it was live: a delete renamed it
 * by appending a suffix of its deletion time (see the deletion in writes.ts).
 */
const LOCK_FOR_ERASURE = statement((args: { customerId: string }) =>
  builder
    .selectFrom('customers')
    .select(
      sql<string | null>`CASE WHEN ${isLive} THEN ${customerColumn('source_id')}
        ELSE left(${customerColumn('source_id')}, -length(${deletedSourceIdSuffix(customerColumn('deleted_at'))})) END`.as(
        'source_id',
      ),
    )
    .where('customers.id', '=', args.customerId)
    .forUpdate(),
);

const ERASE_EVENTS = statement((args: { customerId: string }) =>
  builder
    .deleteFrom('customer_events')
    .where('customer_events.customer_id', '=', args.customerId)
    .returning('customer_events.id'),
);

const ERASE_CUSTOMER = statement((args: { customerId: string }) =>
  builder.deleteFrom('customers').where('customers.id', '=', args.customerId),
);

const ERASE_FAILURES = statement((args: { sourceId: string }) =>
  builder.deleteFrom('async_action_failures').where('async_action_failures.source_id', '=', args.sourceId),
);

const ERASE_REPORT_ROWS = statement((args: { sourceId: string }) =>
  builder.deleteFrom('async_action_applied_rows').where('async_action_applied_rows.source_id', '=', args.sourceId),
);

/**
 * Revokes the live customer's cockpit links expiring through `through` (never fewer than before):
 * not a change of the customer, so no event and no new updated_at.
 */
const REVOKE_COCKPIT_LINKS = statement((args: { customerId: string; through: string }) =>
  builder
    .updateTable('customers')
    .set({
      cockpit_links_revoked_through: sql<Date>`GREATEST(${customerColumn('cockpit_links_revoked_through')}, ${timestamptz(args.through)})`,
    })
    .where('customers.id', '=', args.customerId)
    .where(isLive)
    .returning(CUSTOMER_SELECTION),
);

/** The share of the table a bulk write must change for the planner's statistics of it to be stale. */
const STALE_STATISTICS_SHARE = 0.1;

/** Reads of live customers, and the maintenance of the customers table. */
export function customerReads(db: pg.Pool) {
  return {
    /** The live customer with this id, or else this source_id. */
    get: async (key: string): Promise<CustomerRow | undefined> => (await run(db, GET, { key }))[0],

    /**
     * One page of live customers and how many match the filters. With a created_at cursor the
     * page also takes the rest of its last timestamp's customers, so a cursor that moves by
     * created_at alone (the official SDK's scroll) never skips customers sharing a timestamp.
     */
    async list({ filters, order, limit, page }: CustomerListRequest) {
      const descending = order.startsWith('-');
      const used = filtersUsed(filters);
      const pageArgs = {
        ...filters,
        limit: limit + 1,
        offset: page.kind === 'offset' ? page.offset : 0,
        startingAfter: page.kind === 'cursor' ? page.startingAfter : '',
      };
      const shape = { used, order, kind: page.kind };
      // A compiled filter has a text of its own: written and run for this list alone.
      const once = filters.condition !== undefined;
      const [counted, fetched] = await Promise.all([
        once ? runOnce(db, countQuery(used, filters)) : run(db, COUNT(used), filters),
        once ? runOnce(db, pageQuery(shape, pageArgs)) : run(db, PAGE(shape), pageArgs),
      ]);
      const total = counted[0]!.total;
      const customers: CustomerRow[] = fetched.slice(0, limit);
      const last = customers.at(-1);
      const next = fetched[limit];
      if (page.kind === 'offset' || !last || !next || next.created_at !== last.created_at) {
        return { customers, total, hasMore: next !== undefined };
      }

      // The page ends inside a group of customers created in the same millisecond: take the
      // rest of the group, and look one row past it to know whether more follow.
      const direction = descending ? 'desc' : 'asc';
      const restOfGroup = builder
        .selectFrom('customers')
        .select(CUSTOMER_SELECTION)
        .select(sql<boolean>`true`.as('tied'))
        .where((eb) => matching(eb, filters))
        .where('customers.created_at', '=', timestamptz(last.created_at))
        .where('customers.id', descending ? '<' : '>', last.id);
      const firstAfterGroup = builder
        .selectFrom('customers')
        .select(CUSTOMER_SELECTION)
        .select(sql<boolean>`false`.as('tied'))
        .where((eb) => matching(eb, filters))
        .where('customers.created_at', descending ? '<' : '>', timestamptz(last.created_at))
        .orderBy('customers.created_at', direction)
        .orderBy('customers.id', direction)
        .limit(sql.lit(1));
      // A subquery keeps the second part's ORDER BY and LIMIT its own.
      const tied = await (once ? runOnce : runBuilt)(
        db,
        builder
          .selectFrom(restOfGroup.unionAll(builder.selectFrom(firstAfterGroup.as('next')).selectAll()).as('rest'))
          .selectAll()
          .orderBy('rest.tied', 'desc')
          .orderBy('rest.id', direction),
      );
      const rest = tied.filter((row) => row.tied).map(({ tied: _tied, ...row }) => row);
      return { customers: [...customers, ...rest], total, hasMore: tied.some((row) => !row.tied) };
    },

    /** Revokes a live customer's cockpit links through `through`; answers the customer, or undefined when there is none. */
    revokeCockpitLinks: async (customerId: string, through: string): Promise<CustomerRow | undefined> =>
      (await run(db, REVOKE_COCKPIT_LINKS, { customerId, through }))[0],

    /**
     * Measures the customers table again (ANALYZE) when a bulk write of `written` customers
     * changed a large share of it, or it was never measured. Until then PostgreSQL plans for the
     * table it last measured: right after an import into a fresh table it takes nearly every
     * customer for deleted, and reads them all to sort a first page that its created_at index
     * gives at once. Answers whether it measured.
     */
    async refreshStatistics(written: number): Promise<boolean> {
      const { rows } = await db.query<{ reltuples: number }>(`SELECT reltuples FROM pg_class WHERE oid = 'customers'::regclass`);
      const measured = rows[0]?.reltuples ?? -1;
      if (measured >= 0 && written < STALE_STATISTICS_SHARE * measured) return false;
      await db.query('ANALYZE customers');
      return true;
    },

    /**
     * Erases a customer (live or deleted) and every event about it, for good. Returns how many
     * events went, or undefined when the customer was already gone.
     */
    async erase(customerId: string): Promise<{ events: number } | undefined> {
      return withTransaction(db, async (tx) => {
        const [target] = await run(tx, LOCK_FOR_ERASURE, { customerId });
        if (!target) return undefined;
        const events = await run(tx, ERASE_EVENTS, { customerId });
        await run(tx, ERASE_CUSTOMER, { customerId });
        // A failed row of a bulk update or import, or a row of its report, can name the customer
        // by the source_id it had before a delete renamed it: those go too. Inputs are gone once an action ends.
        if (target.source_id !== null) {
          await run(tx, ERASE_FAILURES, { sourceId: target.source_id });
          await run(tx, ERASE_REPORT_ROWS, { sourceId: target.source_id });
        }
        return { events: events.length };
      });
    },
  };
}
