import type pg from 'pg';
import type { EventRow } from '../customers/repository/index.js';
import { UNFINISHED_ACTION } from '../jobs/store.js';
import { isoTimestamp } from '../customers/repository/statements.js';
import { withTransaction, type Queryable } from '../transaction.js';

/** An endpoint as stored, timestamps in the wire format. */
export interface EndpointRow {
  id: string;
  url: string;
  events: string[];
  description: string | null;
  enabled: boolean;
  secret: string;
  created_at: string;
}

export interface NewEndpoint {
  id: string;
  url: string;
  events: string[];
  description: string | null;
  enabled: boolean;
  secret: string;
  createdAt: string;
}

export type EndpointChanges = Partial<Pick<EndpointRow, 'url' | 'events' | 'description' | 'enabled'>>;

/** A delivery attempt as logged. */
export interface DeliveryRow {
  id: string;
  event_id: string | null;
  attempt: number;
  status_code: number | null;
  error: string | null;
  duration_ms: number;
  created_at: string;
}

/** A message a worker claimed: the event to send, where, and which attempt this is. */
export interface ClaimedMessage {
  endpoint_id: string;
  url: string;
  secret: string;
  attempts: number;
  event: EventRow;
}

/** What became of one claimed message's attempt. */
export interface MessageOutcome {
  endpointId: string;
  eventId: string;
  attempt: number;
  deliveryId: string;
  statusCode: number | null;
  error: string | null;
  durationMs: number;
  /** Answered 2xx: the message is done. */
  delivered: boolean;
  /** When not delivered: how long until the next attempt. */
  retryInMs: number;
  /**
   * Sent straight from the feed (READ_FEED), with no message queued for it: the outcome is only
   * logged (and counts toward the endpoint's stretch of failures); the range's closing queues what
   * was not delivered.
   */
  direct: boolean;
}

/** A range of the feed a worker read for an endpoint, under a lease (READ_FEED). */
export interface FeedRange {
  endpointId: string;
  /** The lease's token: only its holder closes the range. */
  lease: string;
  /** The endpoint's feed position when read, and the last position read. */
  after: string;
  through: string;
}

/** An event of a range sent straight away, to be sent once more if it is not delivered. */
export interface SentFromFeed {
  eventId: string;
  /** In flight when the range closes: it is queued as a message under the range's lease (attempt 1). */
  state: 'delivered' | 'failed' | 'in-flight';
  retryInMs: number;
}

/** A range to close, and what became of the events sent from it. */
export interface ClosingRange extends FeedRange {
  sent: readonly SentFromFeed[];
}

/** What READ_FEED read: the ranges, and the events to send at once (first attempts). */
interface FeedRead {
  ranges: FeedRange[];
  messages: ClaimedMessage[];
}

/** Most events a range's closing reads (only more than the range when a replay moved the position back). */
const CLOSE_LIMIT = 1000;

const ENDPOINT_COLUMNS = `id, url, events, description, enabled, secret, ${isoTimestamp('created_at')}`;
const DELIVERY_COLUMNS = `id, event_id, attempt, status_code, error, duration_ms, ${isoTimestamp('created_at')}`;

/**
 * A customer's messages to an endpoint form a chain, sent one at a time in feed order: only its
 * first message (the chain's head) has a `next_attempt_at`; the others wait with none, and are
 * found through no index when messages are claimed. Whoever adds to a chain or removes its head
 * holds the endpoint's row lock first (LOCK_ENDPOINTS_TO_RECORD, which closes ranges of the feed
 * too), and then reads the chain in a statement of its own: each sees what the other committed, so
 * a chain always has exactly one head. A chain is started only by the closing of a range of the
 * feed, and only the holder of the range's lease closes it; so while a worker holds it, the
 * customers READ_FEED found with no chain keep none, and their events sent at once stay in order.
 */

/** An event as its webhook body shows it (the feed's fields; the worker adds `object`). */
const EVENT_JSON = `json_build_object('id', event.id, 'type', event.type, 'data', event.data, 'group_id', event.group_id,
  'created_at', to_char(event.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'))`;

/**
 * The endpoints behind the feed whose range no worker holds, locked in id order; one that has
 * caught up is not even locked (an idle worker writes nothing), one locked by another worker is
 * skipped this round.
 */
const LOCK_ENDPOINTS_TO_READ = `
  SELECT id FROM webhook_endpoints
  WHERE enabled AND feed_position < (SELECT last_position FROM customer_event_feed WHERE id = 1)
    AND (feed_lease_until IS NULL OR feed_lease_until < now())
  ORDER BY id FOR UPDATE SKIP LOCKED`;

/**
 * Reads the next range of the feed of each endpoint ($1), at most $2 events, and leases it to
 * this worker ($5, for $4 ms). Of its events, those that can be sent at once, at most $3, come
 * back with the endpoint: an event of a type the endpoint takes, its customer's first in the
 * range, and of a customer with no message queued to the endpoint (whose chain is empty). The
 * rest wait for the range's closing (CLOSE_RANGES), which queues them. So on the happy path
 * an event is read, sent and logged, and never queued.
 */
const READ_FEED = `
  WITH range AS MATERIALIZED (
    SELECT endpoint.id AS endpoint_id, endpoint.events, endpoint.feed_position AS after,
      event.id AS event_id, event.customer_id, event.position, event.type
    FROM webhook_endpoints AS endpoint CROSS JOIN LATERAL (
      SELECT id, customer_id, position, type FROM customer_events
      WHERE position > endpoint.feed_position ORDER BY position LIMIT $2
    ) AS event
    WHERE endpoint.id = ANY($1::text[])
  ), leased AS (
    UPDATE webhook_endpoints SET feed_lease = $5, feed_lease_until = now() + $4 * interval '1 millisecond'
    WHERE id IN (SELECT endpoint_id FROM range)
  ), sendable AS (
    SELECT endpoint_id, event_id, position FROM (
      SELECT endpoint_id, event_id, customer_id, position,
        position = min(position) OVER (PARTITION BY endpoint_id, customer_id) AS first
      FROM range WHERE type = ANY(events)
    ) AS wanted
    WHERE first AND NOT EXISTS (
      SELECT 1 FROM webhook_messages AS queued
      WHERE queued.endpoint_id = wanted.endpoint_id AND queued.customer_id = wanted.customer_id
    )
    ORDER BY position LIMIT $3
  )
  SELECT read.endpoint_id, read.after::text, read.through::text, endpoint.url, endpoint.secret,
    sendable.event_id, (SELECT ${EVENT_JSON} FROM customer_events AS event WHERE event.id = sendable.event_id) AS event
  FROM (SELECT endpoint_id, min(after) AS after, max(position) AS through FROM range GROUP BY endpoint_id) AS read
  JOIN webhook_endpoints AS endpoint ON endpoint.id = read.endpoint_id
  LEFT JOIN sendable ON sendable.endpoint_id = read.endpoint_id
  ORDER BY sendable.position`;

/**
 * Closes the ranges ($1) this worker still holds the lease of: queues a message for each event
 * of the range that the endpoint takes and that was not delivered when sent at once (each range's
 * `sent`, by event id: a lookup, where a join would compare every event with every one sent), and
 * moves the endpoint's position past the range. A message is its chain's head (due) when it is
 * its customer's first in the range and the customer had none queued; a first attempt that
 * failed is due after its backoff, one still in flight is queued under the range's lease with
 * its attempt counted (its outcome is recorded as a message's). When the position was moved back
 * meanwhile (a replay), the range is read from there, up to $2 events, and nothing sent counts
 * as delivered. Answers the attempts in flight it queued (none of a range whose lease ran out: that
 * range is another worker's now, and an attempt's outcome is then only logged).
 */
const CLOSE_RANGES = `
  WITH closing AS MATERIALIZED (
    SELECT endpoint.id AS endpoint_id, endpoint.events, endpoint.feed_position, endpoint.feed_lease_until,
      endpoint.feed_position = range.after AS unmoved, range.through, range.sent
    FROM jsonb_to_recordset($1::jsonb) AS range("endpointId" text, lease text, after bigint, through bigint, sent jsonb)
    JOIN webhook_endpoints AS endpoint ON endpoint.id = range."endpointId" AND endpoint.feed_lease = range.lease
  ), batch AS MATERIALIZED (
    SELECT closing.endpoint_id, closing.events, closing.feed_lease_until,
      event.id AS event_id, event.customer_id, event.position, event.type,
      CASE WHEN closing.unmoved THEN closing.sent -> event.id END AS sent
    FROM closing CROSS JOIN LATERAL (
      SELECT id, customer_id, position, type FROM customer_events
      WHERE position > closing.feed_position AND position <= closing.through ORDER BY position LIMIT $2
    ) AS event
  ), undelivered AS (
    SELECT endpoint_id, event_id, customer_id, position, feed_lease_until,
      sent ->> 'state' AS state, (sent ->> 'retryInMs')::bigint AS "retryInMs"
    FROM batch WHERE type = ANY(events) AND (sent ->> 'state') IS DISTINCT FROM 'delivered'
  ), queued AS (
    INSERT INTO webhook_messages (endpoint_id, event_id, customer_id, position, attempts, next_attempt_at, lease_until)
    SELECT endpoint_id, event_id, customer_id, position, CASE WHEN state IS NULL THEN 0 ELSE 1 END,
      CASE WHEN position = min(position) OVER (PARTITION BY endpoint_id, customer_id)
        AND NOT EXISTS (
          SELECT 1 FROM webhook_messages AS queued
          WHERE queued.endpoint_id = undelivered.endpoint_id AND queued.customer_id = undelivered.customer_id
        ) THEN CASE WHEN state = 'failed' THEN now() + "retryInMs" * interval '1 millisecond' ELSE now() END END,
      CASE WHEN state = 'in-flight' THEN feed_lease_until END
    FROM undelivered
    ON CONFLICT DO NOTHING
    RETURNING endpoint_id, event_id, lease_until
  ), moved AS (
    UPDATE webhook_endpoints SET feed_position = coalesce(read.last, webhook_endpoints.feed_position),
      feed_lease = NULL, feed_lease_until = NULL
    FROM closing LEFT JOIN (SELECT endpoint_id, max(position) AS last FROM batch GROUP BY endpoint_id) AS read USING (endpoint_id)
    WHERE webhook_endpoints.id = closing.endpoint_id
  )
  SELECT endpoint_id, event_id FROM queued WHERE lease_until IS NOT NULL`;

/**
 * Claims chain heads due for an attempt. The claim is a lease, longer than an attempt may take: a
 * worker that dies leaves its messages to be claimed again when the lease ends, and no two
 * workers hold one message at once (SKIP LOCKED, and the lease rechecked on the row once locked).
 *
 * The claimed rows are found again by their physical address (a TID scan) and each event by its
 * key (a subquery per row), and it runs on index paths (INDEX_PATHS_ONLY): a join planned on
 * the queue's stale "one row" once rescanned the whole queue for every claimed message, 55 ms a
 * claim with a few hundred messages queued (bench/README.md, "Webhooks").
 */
const CLAIM = `
  WITH claimable AS (
    SELECT message.ctid FROM webhook_messages AS message
    WHERE message.next_attempt_at <= now() AND (message.lease_until IS NULL OR message.lease_until < now())
      AND EXISTS (SELECT 1 FROM webhook_endpoints AS endpoint WHERE endpoint.id = message.endpoint_id AND endpoint.enabled)
    ORDER BY message.next_attempt_at
    LIMIT $1
    FOR UPDATE OF message SKIP LOCKED
  ), claimed AS (
    UPDATE webhook_messages AS message
    SET lease_until = now() + $2 * interval '1 millisecond', attempts = message.attempts + 1
    WHERE message.ctid = ANY(ARRAY(SELECT ctid FROM claimable))
    RETURNING message.endpoint_id, message.event_id, message.attempts
  )
  SELECT claimed.endpoint_id, endpoint.url, endpoint.secret, claimed.attempts,
    (SELECT ${EVENT_JSON} FROM customer_events AS event WHERE event.id = claimed.event_id) AS event
  FROM claimed JOIN webhook_endpoints AS endpoint ON endpoint.id = claimed.endpoint_id`;

/**
 * Whether the delivery worker numbers the feed's new events this round (the sequencer,
 * src/customers/repository/feed.ts). An enabled endpoint needs them numbered to be delivered. With
 * none, only the feed's readers need them, and a reader numbers them itself before it reads; so
 * while an async action (a bulk update or an import) is unfinished, writing thousands of events,
 * the worker leaves them to its readers and catches up once the action ends, instead of
 * rewriting every event row beside the action as it goes (that cost an import of 100,000
 * customers about 3 s of PostgreSQL's CPU: bench/README.md, "Bulk writes").
 */
const FEED_NUMBERING_DUE = `
  SELECT EXISTS (SELECT 1 FROM webhook_endpoints WHERE enabled)
    OR NOT EXISTS (SELECT 1 FROM async_actions WHERE ${UNFINISHED_ACTION}) AS due`;

/** The endpoints of a batch of outcomes and of the ranges closing, locked in id order (see the chains above). */
const LOCK_ENDPOINTS_TO_RECORD = 'SELECT id FROM webhook_endpoints WHERE id = ANY($1::text[]) ORDER BY id FOR NO KEY UPDATE';

/**
 * Records a batch of attempts: each in the delivery log; a delivered message is done and the next
 * of its chain becomes the head, due now; another is due again after its backoff. Only under the
 * claim it was sent with (its attempt number): a message claimed again meanwhile (its lease ran
 * out) belongs to that claim. Each endpoint's stretch of failures is kept too: a success ends it,
 * a failure starts one unless one is running.
 */
const RECORD_OUTCOMES = `
  WITH outcome AS MATERIALIZED (SELECT * FROM jsonb_to_recordset($1::jsonb) AS outcome(
    "endpointId" text, "eventId" text, attempt int, "deliveryId" text, "statusCode" int, error text,
    "durationMs" int, delivered boolean, "retryInMs" bigint, direct boolean)
  ), logged AS (
    INSERT INTO webhook_deliveries (id, endpoint_id, event_id, attempt, status_code, error, duration_ms, created_at)
    SELECT "deliveryId", "endpointId", "eventId", attempt, "statusCode", error, "durationMs", now()
    FROM outcome WHERE EXISTS (SELECT 1 FROM webhook_endpoints WHERE id = outcome."endpointId")
    -- Recorded already, when a commit's answer was lost and the batch is recorded again.
    ON CONFLICT (id) DO NOTHING
  ), done AS (
    DELETE FROM webhook_messages AS message USING outcome
    WHERE outcome.delivered AND NOT outcome.direct AND message.endpoint_id = outcome."endpointId" AND message.event_id = outcome."eventId"
      AND message.attempts = outcome.attempt
    RETURNING message.endpoint_id, message.customer_id, message.event_id
  ), promoted AS (
    UPDATE webhook_messages AS message SET next_attempt_at = now()
    FROM (
      SELECT DISTINCT ON (waiting.endpoint_id, waiting.customer_id) waiting.endpoint_id, waiting.event_id
      FROM done JOIN webhook_messages AS waiting
        ON waiting.endpoint_id = done.endpoint_id AND waiting.customer_id = done.customer_id AND waiting.event_id <> done.event_id
      ORDER BY waiting.endpoint_id, waiting.customer_id, waiting.position
    ) AS next
    WHERE message.endpoint_id = next.endpoint_id AND message.event_id = next.event_id
  ), retried AS (
    UPDATE webhook_messages AS message
    SET lease_until = NULL, next_attempt_at = now() + outcome."retryInMs" * interval '1 millisecond'
    FROM outcome
    WHERE NOT outcome.delivered AND NOT outcome.direct AND message.endpoint_id = outcome."endpointId" AND message.event_id = outcome."eventId"
      AND message.attempts = outcome.attempt
  )
  UPDATE webhook_endpoints SET failing_since = CASE WHEN result.any_delivered THEN NULL ELSE now() END
  FROM (SELECT "endpointId", bool_or(delivered) AS any_delivered FROM outcome GROUP BY "endpointId") AS result
  WHERE webhook_endpoints.id = result."endpointId" AND (webhook_endpoints.failing_since IS NULL) = NOT result.any_delivered`;

/** Disables the endpoints whose every attempt failed for `$2` ms, with a log entry saying why (after the attempt's). */
const DISABLE_FAILING = `
  WITH disabled AS (
    UPDATE webhook_endpoints SET enabled = false, updated_at = now()
    WHERE id = ANY($1::text[]) AND enabled AND failing_since <= now() - $2 * interval '1 millisecond'
    RETURNING id, failing_since
  )
  INSERT INTO webhook_deliveries (id, endpoint_id, event_id, attempt, status_code, error, duration_ms, created_at)
  SELECT $3 || left(md5(id), 12), id, NULL, 0, NULL,
    'endpoint disabled: every delivery attempt since ' ||
      to_char(failing_since AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') ||
      ' failed, for longer than ' || $2 || ' ms; enable it again to resume its deliveries',
    0, clock_timestamp()
  FROM disabled`;

/**
 * The queue's statistics are always stale: it is empty one minute and holds thousands of messages
 * the next, and an ANALYZE taken while it was empty makes the planner scan it whole and hash-join
 * it for every claim and every record (O(queue) per message: with a backlog, the worker then
 * spent 15–35 ms a statement and fell further behind). Every statement on it has an index path
 * by key (the chains, the heads, the primary key), so within the worker's transactions the
 * planner is told to take those: no sequential scan, no hash or merge join.
 */
const INDEX_PATHS_ONLY = `SELECT set_config('enable_seqscan', 'off', true), set_config('enable_hashjoin', 'off', true),
  set_config('enable_mergejoin', 'off', true)`;

/** A range as CLOSE_RANGES reads it: what became of its events sent, by event id. */
const byEvent = ({ sent, ...range }: ClosingRange) => ({
  ...range,
  sent: Object.fromEntries(sent.map(({ eventId, state, retryInMs }) => [eventId, { state, retryInMs }])),
});

/** What a delivery round records, reads and claims (WebhookStore.round). */
export interface RoundRequest {
  outcomes?: readonly MessageOutcome[];
  ranges?: readonly ClosingRange[];
  readLimit?: number;
  /** Attempts this worker may start now. */
  free?: number;
  leaseMs: number;
  lease: string;
}

export interface RoundResult {
  /** The attempts in flight that closing their ranges queued as messages: their outcomes are messages' now. */
  queuedInFlight: Array<{ endpoint_id: string; event_id: string }>;
  ranges: FeedRange[];
  /** The events to send at once from the ranges read (first attempts). */
  fromFeed: ClaimedMessage[];
  /** The queued messages claimed. */
  claimed: ClaimedMessage[];
}

/** Closes ranges, records outcomes and disables endpoints failing for `disableAfterMs`: the attempts in flight queued. */
async function recordEnded(
  tx: Queryable,
  outcomes: readonly MessageOutcome[],
  ranges: readonly ClosingRange[],
  disableAfterMs: number,
  logIdPrefix: string,
): Promise<RoundResult['queuedInFlight']> {
  if (outcomes.length === 0 && ranges.length === 0) return [];
  const endpoints = [...new Set([...ranges, ...outcomes].map((item) => item.endpointId))].sort();
  const failing = [...new Set(outcomes.filter((outcome) => !outcome.delivered).map((outcome) => outcome.endpointId))];
  await tx.query(LOCK_ENDPOINTS_TO_RECORD, [endpoints]);
  const queuedInFlight =
    ranges.length === 0 ? [] : (await tx.query(CLOSE_RANGES, [JSON.stringify(ranges.map(byEvent)), CLOSE_LIMIT])).rows;
  if (outcomes.length > 0) await tx.query(RECORD_OUTCOMES, [JSON.stringify(outcomes)]);
  if (failing.length > 0) await tx.query(DISABLE_FAILING, [failing, disableAfterMs, logIdPrefix]);
  return queuedInFlight as RoundResult['queuedInFlight'];
}

/** READ_FEED: `limit` events in all, shared evenly between the endpoints behind the feed; at most `sendLimit` to send at once. */
async function readFeed(tx: Queryable, limit: number, sendLimit: number, leaseMs: number, lease: string): Promise<FeedRead> {
  const endpoints = (await tx.query(LOCK_ENDPOINTS_TO_READ)).rows.map((row: { id: string }) => row.id);
  if (endpoints.length === 0) return { ranges: [], messages: [] };
  const perEndpoint = Math.ceil(limit / endpoints.length);
  const rows = (await tx.query(READ_FEED, [endpoints, perEndpoint, sendLimit, leaseMs, lease])).rows as Array<
    Pick<ClaimedMessage, 'endpoint_id' | 'url' | 'secret'> & { after: string; through: string; event: EventRow | null }
  >;
  const ranges = new Map<string, FeedRange>();
  const messages: ClaimedMessage[] = [];
  for (const { endpoint_id: endpointId, after, through, url, secret, event } of rows) {
    if (!ranges.has(endpointId)) ranges.set(endpointId, { endpointId, lease, after, through });
    if (event) messages.push({ endpoint_id: endpointId, url, secret, attempts: 1, event });
  }
  return { ranges: [...ranges.values()], messages };
}

export function createWebhookStore(db: pg.Pool) {
  /** `work` in a transaction whose statements plan by index (INDEX_PATHS_ONLY). */
  const onIndexPaths = <T>(work: (tx: Queryable) => Promise<T>) =>
    withTransaction(db, async (tx) => {
      await tx.query(INDEX_PATHS_ONLY);
      return work(tx);
    });

  const one = async <T>(query: Promise<pg.QueryResult>): Promise<T | undefined> => (await query).rows[0] as T | undefined;

  return {
    /** Stores an endpoint, following the feed from its end: it receives the events that come next. */
    insertEndpoint: (endpoint: NewEndpoint) =>
      one<EndpointRow>(
        db.query(
          `INSERT INTO webhook_endpoints (id, url, events, description, enabled, secret, created_at, feed_position)
           VALUES ($1, $2, $3, $4, $5, $6, $7, (SELECT last_position FROM customer_event_feed WHERE id = 1))
           RETURNING ${ENDPOINT_COLUMNS}`,
          [
            endpoint.id,
            endpoint.url,
            endpoint.events,
            endpoint.description,
            endpoint.enabled,
            endpoint.secret,
            endpoint.createdAt,
          ],
        ),
      ) as Promise<EndpointRow>,

    listEndpoints: async (): Promise<EndpointRow[]> =>
      (await db.query(`SELECT ${ENDPOINT_COLUMNS} FROM webhook_endpoints ORDER BY created_at, id`)).rows as EndpointRow[],

    getEndpoint: (id: string) =>
      one<EndpointRow>(db.query(`SELECT ${ENDPOINT_COLUMNS} FROM webhook_endpoints WHERE id = $1`, [id])),

    /** Applies the fields sent; enabling an endpoint starts its stretch of failures afresh. */
    updateEndpoint: (id: string, changes: EndpointChanges, at: string) =>
      one<EndpointRow>(
        db.query(
          `UPDATE webhook_endpoints SET
             url = CASE WHEN $2 THEN $3 ELSE url END,
             events = CASE WHEN $4 THEN $5::text[] ELSE events END,
             description = CASE WHEN $6 THEN $7 ELSE description END,
             enabled = coalesce($8, enabled),
             failing_since = CASE WHEN $8 THEN NULL ELSE failing_since END,
             updated_at = $9
           WHERE id = $1 RETURNING ${ENDPOINT_COLUMNS}`,
          [
            id,
            changes.url !== undefined,
            changes.url ?? null,
            changes.events !== undefined,
            changes.events ?? null,
            changes.description !== undefined,
            changes.description ?? null,
            changes.enabled ?? null,
            at,
          ],
        ),
      ),

    rotateSecret: (id: string, secret: string, at: string) =>
      one<EndpointRow>(
        db.query(`UPDATE webhook_endpoints SET secret = $2, updated_at = $3 WHERE id = $1 RETURNING ${ENDPOINT_COLUMNS}`, [
          id,
          secret,
          at,
        ]),
      ),

    /** Deletes an endpoint with its queued messages and its log. */
    deleteEndpoint: async (id: string): Promise<boolean> =>
      ((await db.query('DELETE FROM webhook_endpoints WHERE id = $1', [id])).rowCount ?? 0) === 1,

    /**
     * Delivers again every event after this feed position: the endpoint follows the feed from
     * there (never forward: events not yet queued stay due). Messages still queued stay as they are.
     */
    replayFrom: async (id: string, position: string): Promise<boolean> =>
      ((
        await db.query(
          'UPDATE webhook_endpoints SET feed_position = LEAST(feed_position, $2::bigint), updated_at = now() WHERE id = $1',
          [id, position],
        )
      ).rowCount ?? 0) === 1,

    /** A page of an endpoint's delivery log, newest first, one more than asked for. */
    deliveries: async (endpointId: string, limit: number, after?: string): Promise<DeliveryRow[]> =>
      (
        await db.query(
          `SELECT ${DELIVERY_COLUMNS} FROM webhook_deliveries
           WHERE endpoint_id = $1 AND ($3::text IS NULL OR (created_at, id) < (
             SELECT created_at, id FROM webhook_deliveries WHERE id = $3 AND endpoint_id = $1))
           ORDER BY created_at DESC, id DESC LIMIT $2`,
          [endpointId, limit, after ?? null],
        )
      ).rows as DeliveryRow[],

    hasDelivery: async (endpointId: string, id: string): Promise<boolean> =>
      (await db.query('SELECT 1 FROM webhook_deliveries WHERE id = $1 AND endpoint_id = $2', [id, endpointId])).rowCount === 1,

    /** FEED_NUMBERING_DUE. */
    feedNumberingDue: async (): Promise<boolean> => ((await db.query(FEED_NUMBERING_DUE)).rows[0] as { due: boolean }).due,

    /**
     * A delivery round's statements, in one transaction (each is skipped when it has nothing to do):
     * - records what ended: closes `ranges` (CLOSE_RANGES), records `outcomes` (RECORD_OUTCOMES),
     *   and disables the endpoints failing for `disableAfterMs`;
     * - reads the feed (READ_FEED): the next range of each endpoint behind it, leased for `leaseMs`
     *   under `lease`, `readLimit` events in all, shared evenly between the endpoints; of them, at
     *   most `free` to send at once;
     * - claims queued messages (CLAIM), as many as are still free, leased for `leaseMs`.
     * Answers the attempts in flight that closing their ranges queued, the ranges read, and the
     * messages to send.
     */
    round: (
      { outcomes = [], ranges = [], readLimit = 0, free = 0, leaseMs, lease }: RoundRequest,
      disableAfterMs: number,
      logIdPrefix: string,
    ): Promise<RoundResult> =>
      onIndexPaths(async (tx) => {
        const queuedInFlight = await recordEnded(tx, outcomes, ranges, disableAfterMs, logIdPrefix);
        const read = readLimit > 0 ? await readFeed(tx, readLimit, free, leaseMs, lease) : { ranges: [], messages: [] };
        const claimLimit = free - read.messages.length;
        const claimed = claimLimit > 0 ? ((await tx.query(CLAIM, [claimLimit, leaseMs])).rows as ClaimedMessage[]) : [];
        return { queuedInFlight, ranges: read.ranges, fromFeed: read.messages, claimed };
      }),
  };
}

export type WebhookStore = ReturnType<typeof createWebhookStore>;
