import { sql, type ExpressionBuilder } from 'kysely';
import type pg from 'pg';
import type { DB } from '../../generated/kysely/types.js';
import type { CustomerRow } from './columns.js';
import { customerColumn, isLive } from './columns.js';
import { builder, run, statement, statementShapes, timestamptz, wireTime } from './statements.js';

/** An activity event as stored: the customer snapshot is a CustomerRow. */
export interface EventRow {
  id: string;
  type: string;
  data: { customer: CustomerRow };
  group_id: string;
  created_at: string;
}

export interface EventFilters {
  customerId: string;
  type?: string;
  /** Only events of these types (a category's). */
  types?: readonly string[];
  /** Inclusive bounds on created_at. */
  startDate?: string;
  endDate?: string;
}

export interface EventPageRequest extends EventFilters {
  order: 'created_at' | '-created_at';
  limit: number;
  /** Exclusive cursor: events after this time (and, when given, after this event id at that time). */
  after?: { createdAt: string; id?: string };
}

export const EVENT_SELECTION = [
  'customer_events.id',
  'customer_events.type',
  sql<{ customer: CustomerRow }>`${sql.ref('customer_events.data')}`.as('data'),
  'customer_events.group_id',
  wireTime(sql.ref('customer_events.created_at')).as('created_at'),
] as const;

/** The customer whose activity is asked for: an id (live or deleted) wins, else a live source_id. */
const ACTIVITY_OWNER = statement((args: { key: string }) =>
  builder
    .selectFrom('customers')
    .select('customers.id')
    .where((eb) => eb.or([eb('customers.id', '=', args.key), eb.and([eb('customers.source_id', '=', args.key), isLive])]))
    .orderBy(sql`${customerColumn('id')} = ${args.key}`, 'desc')
    .limit(sql.lit(1)),
);

const EVENT_TIME = statement((args: { customerId: string; eventId: string }) =>
  builder
    .selectFrom('customer_events')
    .select(wireTime(sql.ref('customer_events.created_at')).as('created_at'))
    .where('customer_events.id', '=', args.eventId)
    .where('customer_events.customer_id', '=', args.customerId),
);

function matching(eb: ExpressionBuilder<DB, 'customer_events'>, filters: EventFilters) {
  const conditions = [eb('customer_events.customer_id', '=', filters.customerId)];
  if (filters.type !== undefined) conditions.push(eb('customer_events.type', '=', filters.type));
  if (filters.types !== undefined)
    conditions.push(eb('customer_events.type', '=', eb.fn<string>('any', [eb.val(filters.types)])));
  if (filters.startDate) conditions.push(eb('customer_events.created_at', '>=', timestamptz(filters.startDate)));
  if (filters.endDate) conditions.push(eb('customer_events.created_at', '<=', timestamptz(filters.endDate)));
  return eb.and(conditions);
}

/** Which optional filters an events statement has: its shape depends on them, not on their values. */
const EVENT_FILTERS = ['type', 'types', 'startDate', 'endDate'] as const satisfies ReadonlyArray<keyof EventFilters>;
type EventFilterName = (typeof EVENT_FILTERS)[number];

const filtersUsed = (filters: EventFilters): EventFilterName[] => EVENT_FILTERS.filter((filter) => filters[filter] !== undefined);

/** The filters a shape has, as stand-ins for their values. */
const shapeFilters = (used: readonly EventFilterName[], args: EventFilters): EventFilters => ({
  customerId: args.customerId,
  ...Object.fromEntries(used.map((filter) => [filter, args[filter]])),
});

interface EventPageShape {
  used: readonly EventFilterName[];
  order: EventPageRequest['order'];
  /** No cursor, a time, or a time and the event id at that time. */
  cursor: 'none' | 'time' | 'event';
}

type EventPageArgs = EventFilters & { afterCreatedAt: string; afterId: string; limit: number };

/**
 * A page of one customer's events in (created_at, id) order, one more than asked for. The cursor
 * is a keyset condition on the (customer_id, created_at, id) index, so a page deep in a long
 * history costs what the first one does.
 */
const EVENT_PAGE = statementShapes(
  ({ used, order, cursor }: EventPageShape) => `${used.join(',')}|${order}|${cursor}`,
  ({ used, order, cursor }, args: EventPageArgs) => {
    const direction = order === 'created_at' ? 'asc' : 'desc';
    const comparison = order === 'created_at' ? '>' : '<';
    return builder
      .selectFrom('customer_events')
      .select(EVENT_SELECTION)
      .where((eb) => matching(eb, shapeFilters(used, args)))
      .$if(cursor === 'time', (query) => query.where('customer_events.created_at', comparison, timestamptz(args.afterCreatedAt)))
      .$if(cursor === 'event', (query) =>
        query.where((eb) =>
          eb(
            eb.refTuple('customer_events.created_at', 'customer_events.id'),
            comparison,
            eb.tuple(timestamptz(args.afterCreatedAt), args.afterId),
          ),
        ),
      )
      .orderBy('customer_events.created_at', direction)
      .orderBy('customer_events.id', direction)
      .limit(args.limit);
  },
);

const EVENT_COUNT = statementShapes(
  (used: readonly EventFilterName[]) => used.join(','),
  (used, args: EventFilters) =>
    builder
      .selectFrom('customer_events')
      .select(sql<number>`count(*)::int`.as('total'))
      .where((eb) => matching(eb, shapeFilters(used, args))),
);

/** Reads of the activity log. Events are written by the writes that change customers (writes.ts). */
export function eventReads(db: pg.Pool) {
  return {
    findActivityOwner: async (key: string): Promise<string | undefined> => (await run(db, ACTIVITY_OWNER, { key }))[0]?.id,

    /** When one of this customer's events happened, to page from it. */
    eventTime: async (customerId: string, eventId: string): Promise<string | undefined> =>
      (await run(db, EVENT_TIME, { customerId, eventId }))[0]?.created_at,

    /** A page of one customer's events (EVENT_PAGE), and whether more follow. */
    async listEvents({ order, limit, after, ...filters }: EventPageRequest) {
      const cursor = after === undefined ? 'none' : after.id === undefined ? 'time' : 'event';
      const rows = await run(db, EVENT_PAGE({ used: filtersUsed(filters), order, cursor }), {
        ...filters,
        afterCreatedAt: after?.createdAt ?? '',
        afterId: after?.id ?? '',
        limit: limit + 1,
      });
      return { events: rows.slice(0, limit) as EventRow[], hasMore: rows.length > limit };
    },

    async countEvents(filters: EventFilters): Promise<number> {
      const [counted] = await run(db, EVENT_COUNT(filtersUsed(filters)), filters);
      return counted!.total;
    },
  };
}
