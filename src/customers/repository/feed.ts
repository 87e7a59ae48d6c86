import { sql } from 'kysely';
import type pg from 'pg';
import { withTransaction } from '../../transaction.js';
import { EVENT_SELECTION, type EventRow } from './events.js';
import { builder, run, statement, statementShapes, timestamptz } from './statements.js';

/**
 * The feed of every customer's events, in the order they committed (GET /v1/customer-events,
 * and the webhooks that follow it).
 *
 * A number taken while a transaction runs (a sequence, an xid) can become visible after a larger
 * one that committed first: a reader that has passed it would never see it. So an event is
 * written without a place in the feed, and the sequencer numbers events only once they have
 * committed: one sequencer at a time (it holds the lock of customer_event_feed's row), numbering
 * every committed event that has no position yet. Each run sees everything the previous runs
 * numbered, so every position it hands out is larger than every position already visible.
 *
 * The order within a run is (created_at, id). One customer's changes commit one after the other
 * (each waits for the previous one's row lock) with strictly increasing times (writes.ts), so a
 * customer's events take positions in the order they committed, whether one run numbers them or
 * several do. The write statements are unchanged: the only cost they carry is one entry in the
 * small index of events waiting for a position.
 */

/** Most events one run of the sequencer numbers; the next run takes the rest. */
const SEQUENCER_BATCH = 5000;

/** The events waiting for a position: a probe of their (small) index. */
const ANY_UNSEQUENCED = statement(() =>
  builder
    .selectFrom('customer_events')
    .select(sql<number>`1`.as('pending'))
    .where('customer_events.position', 'is', null)
    .limit(sql.lit(1)),
);

/** Takes the sequencer's lock, waiting for a run in progress to end: the last position handed out. */
const LOCK_SEQUENCER = statement(() =>
  builder
    .selectFrom('customer_event_feed')
    .select('customer_event_feed.last_position')
    .where('customer_event_feed.id', '=', 1)
    .forUpdate(),
);

/**
 * Numbers the committed events that have no position, oldest first, after the last position
 * handed out; run as its own statement once the lock is held, so it sees every event committed
 * until then, and every position of earlier runs.
 */
const NUMBER_EVENTS = statement((args: { lastPosition: string; limit: number }) =>
  builder
    .with('pending', (db) =>
      db
        .selectFrom('customer_events')
        .select(['customer_events.id', sql<string>`row_number() OVER (ORDER BY created_at, id)`.as('n')])
        .where('customer_events.position', 'is', null)
        .orderBy('customer_events.created_at')
        .orderBy('customer_events.id')
        .limit(args.limit),
    )
    .with('numbered', (db) =>
      db
        .updateTable('customer_events')
        .set({ position: sql`${args.lastPosition}::bigint + pending.n` })
        .from('pending')
        .whereRef('customer_events.id', '=', 'pending.id')
        .returning('customer_events.position'),
    )
    .updateTable('customer_event_feed')
    .set({ last_position: sql`(SELECT max(numbered.position) FROM numbered)` })
    .where('customer_event_feed.id', '=', 1)
    .where(sql<boolean>`EXISTS (SELECT 1 FROM numbered)`)
    .returning(sql<number>`(SELECT count(*)::int FROM numbered)`.as('numbered')),
);

/** An event's place in the feed: undefined when there is no such event, or it has no place yet. */
const EVENT_POSITION = statement((args: { eventId: string }) =>
  builder
    .selectFrom('customer_events')
    .select('customer_events.position')
    .where('customer_events.id', '=', args.eventId)
    .where('customer_events.position', 'is not', null),
);

export interface FeedFilters {
  type?: string;
  /** Inclusive bounds on created_at. */
  startDate?: string;
  endDate?: string;
}

export interface FeedPageRequest extends FeedFilters {
  limit: number;
  /** Exclusive cursor: the events after this position. */
  afterPosition?: string;
}

const FEED_FILTERS = ['type', 'startDate', 'endDate', 'afterPosition'] as const satisfies ReadonlyArray<keyof FeedPageRequest>;
type FeedFilterName = (typeof FEED_FILTERS)[number];

type FeedPageArgs = Required<FeedFilters> & { afterPosition: string; limit: number };

/** A page of the feed in position order, one more than asked for; the cursor is a keyset on the position index. */
const FEED_PAGE = statementShapes(
  (used: readonly FeedFilterName[]) => used.join(','),
  (used, args: FeedPageArgs) =>
    builder
      .selectFrom('customer_events')
      .select(EVENT_SELECTION)
      .where('customer_events.position', 'is not', null)
      .$if(used.includes('afterPosition'), (query) =>
        query.where('customer_events.position', '>', sql<string>`${args.afterPosition}::bigint`),
      )
      .$if(used.includes('type'), (query) => query.where('customer_events.type', '=', args.type))
      .$if(used.includes('startDate'), (query) => query.where('customer_events.created_at', '>=', timestamptz(args.startDate)))
      .$if(used.includes('endDate'), (query) => query.where('customer_events.created_at', '<=', timestamptz(args.endDate)))
      .orderBy('customer_events.position')
      .limit(args.limit),
);

/** The feed of all customers' events, and its sequencer. */
export function eventFeed(db: pg.Pool) {
  /**
   * Gives the committed events that have none their place in the feed (all of them, in runs of
   * SEQUENCER_BATCH). Safe to call from any number of processes at once: they take turns.
   * Answers how many events it numbered.
   */
  async function sequence(): Promise<number> {
    let numbered = 0;
    while ((await run(db, ANY_UNSEQUENCED, {})).length > 0) {
      const count = await withTransaction(db, async (tx) => {
        const [feed] = await run(tx, LOCK_SEQUENCER, {});
        const [result] = await run(tx, NUMBER_EVENTS, { lastPosition: feed!.last_position, limit: SEQUENCER_BATCH });
        return result?.numbered ?? 0;
      });
      numbered += count;
      if (count < SEQUENCER_BATCH) break;
    }
    return numbered;
  }

  return {
    sequence,

    eventPosition: async (eventId: string): Promise<string | undefined> =>
      (await run(db, EVENT_POSITION, { eventId }))[0]?.position ?? undefined,

    /** A page of the feed (FEED_PAGE), and whether more follow. */
    async feedPage({ limit, ...filters }: FeedPageRequest): Promise<{ events: EventRow[]; hasMore: boolean }> {
      const used = FEED_FILTERS.filter((filter) => filters[filter] !== undefined);
      const rows = await run(db, FEED_PAGE(used), {
        type: filters.type ?? '',
        startDate: filters.startDate ?? '',
        endDate: filters.endDate ?? '',
        afterPosition: filters.afterPosition ?? '',
        limit: limit + 1,
      });
      return { events: rows.slice(0, limit) as EventRow[], hasMore: rows.length > limit };
    },
  };
}
