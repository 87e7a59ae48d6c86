import { sql, type ExpressionBuilder } from 'kysely';
import type pg from 'pg';
import type { DB } from '../../generated/kysely/types.js';
import type { CustomerRow } from './columns.js';
import { customerColumn, isLive } from './columns.js';
import { builder, run, runBuilt, statement, timestamptz, wireTime } from './statements.js';

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

const EVENT_SELECTION = [
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

/** Reads of the activity log. Events are written by the writes that change customers (writes.ts). */
export function eventReads(db: pg.Pool) {
  return {
    findActivityOwner: async (key: string): Promise<string | undefined> => (await run(db, ACTIVITY_OWNER, { key }))[0]?.id,

    /** When one of this customer's events happened, to page from it. */
    eventTime: async (customerId: string, eventId: string): Promise<string | undefined> =>
      (await run(db, EVENT_TIME, { customerId, eventId }))[0]?.created_at,

    /**
     * A page of one customer's events in (created_at, id) order. The cursor is a keyset
     * condition on the (customer_id, created_at, id) index, so a page deep in a long history
     * costs what the first one does.
     */
    async listEvents({ order, limit, after, ...filters }: EventPageRequest) {
      const direction = order === 'created_at' ? 'asc' : 'desc';
      const comparison = order === 'created_at' ? '>' : '<';
      const rows = await runBuilt(
        db,
        builder
          .selectFrom('customer_events')
          .select(EVENT_SELECTION)
          .where((eb) => matching(eb, filters))
          .$if(after !== undefined, (query) =>
            query.where((eb) =>
              after!.id === undefined
                ? eb('customer_events.created_at', comparison, timestamptz(after!.createdAt))
                : eb(
                    eb.refTuple('customer_events.created_at', 'customer_events.id'),
                    comparison,
                    eb.tuple(timestamptz(after!.createdAt), after!.id),
                  ),
            ),
          )
          .orderBy('customer_events.created_at', direction)
          .orderBy('customer_events.id', direction)
          .limit(limit + 1),
      );
      return { events: rows.slice(0, limit) as EventRow[], hasMore: rows.length > limit };
    },

    async countEvents(filters: EventFilters): Promise<number> {
      const [counted] = await runBuilt(
        db,
        builder
          .selectFrom('customer_events')
          .select(sql<number>`count(*)::int`.as('total'))
          .where((eb) => matching(eb, filters)),
      );
      return counted!.total;
    },
  };
}
