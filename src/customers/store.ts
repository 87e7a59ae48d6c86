import type pg from 'pg';
import { newEventId } from '../ids.js';
import { withTransaction, type Queryable } from '../transaction.js';
import type { Address, CustomerOrder, CustomerTextField } from '../schemas/customer.js';

/** A live customer as the store reads it: timestamps already in the wire format. */
export interface CustomerRow {
  id: string;
  source_id: string | null;
  name: string | null;
  description: string | null;
  email: string | null;
  phone: string | null;
  birthday: string | null;
  birthdate: string | null;
  address: Address | null;
  metadata: Record<string, unknown>;
  created_at: string;
  updated_at: string | null;
}

/** The stored fields a write sets; a field that is absent stays as it is. */
export type CustomerChanges = Partial<
  Record<CustomerTextField, string | null> & { address: Address | null; metadata: Record<string, unknown> }
>;

/** When a write happens and the activity event it records: the event id and the request's id. */
export interface WriteStamp {
  at: string;
  eventId: string;
  requestId: string;
}

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

export interface CustomerFilters {
  email?: string;
  name?: string;
  city?: string;
  createdBefore?: string;
  createdAfter?: string;
  updatedBefore?: string;
  updatedAfter?: string;
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

/** A timestamptz in the wire format (ISO 8601 in UTC, milliseconds). */
const wireTime = (expression: string) => `to_char(${expression} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/** A timestamptz column in the wire format, under its own name. */
export const isoTimestamp = (column: string) => `${wireTime(column)} AS ${column}`;

const COLUMNS = `id, source_id, name, description, email, phone,
  to_char(birthday, 'YYYY-MM-DD') AS birthday, to_char(birthdate, 'YYYY-MM-DD') AS birthdate,
  address, metadata, ${isoTimestamp('created_at')}, ${isoTimestamp('updated_at')}`;

/** Each writable field's column and the cast its text parameter needs. */
const WRITABLE: Record<keyof CustomerChanges, string> = {
  name: 'text',
  description: 'text',
  email: 'text',
  phone: 'text',
  birthday: 'date',
  birthdate: 'date',
  address: 'jsonb',
  metadata: 'jsonb',
};

// Qualified names: a bare created_at in ORDER BY would mean the formatted text column of the
// select list, which no index covers.
const ORDER_BY: Record<CustomerOrder, string> = {
  created_at: 'customers.created_at ASC, customers.id ASC',
  '-created_at': 'customers.created_at DESC, customers.id DESC',
  updated_at: 'customers.updated_at ASC NULLS LAST, customers.id ASC',
  '-updated_at': 'customers.updated_at DESC NULLS LAST, customers.id DESC',
  source_id: 'customers.source_id ASC NULLS LAST, customers.id ASC',
  '-source_id': 'customers.source_id DESC NULLS LAST, customers.id DESC',
};

/** A live customer by `id`, or else by `source_id` (an id wins when both match different customers). */
const LIVE_BY_KEY = `SELECT id FROM customers
  WHERE deleted_at IS NULL AND (id = $1 OR source_id = $1)
  ORDER BY id = $1 DESC LIMIT 1`;

const EVENT_COLUMNS = `id, type, data, group_id, ${isoTimestamp('created_at')}`;

/** Collects positional parameters while a statement is being written. */
class Params {
  readonly values: unknown[] = [];
  add(value: unknown, cast?: string): string {
    this.values.push(value);
    return cast ? `$${this.values.length}::${cast}` : `$${this.values.length}`;
  }
}

const WRITABLE_FIELDS = Object.keys(WRITABLE) as Array<keyof CustomerChanges>;

function changedColumns(changes: CustomerChanges, params: Params): Array<[column: string, placeholder: string]> {
  return WRITABLE_FIELDS.filter((field) => changes[field] !== undefined).map((field) => {
    const value = changes[field];
    const cast = WRITABLE[field];
    return [field, params.add(cast === 'jsonb' && value !== null ? JSON.stringify(value) : value, cast)];
  });
}

function filterConditions(filters: CustomerFilters, params: Params): string[] {
  const conditions = ['deleted_at IS NULL'];
  if (filters.email !== undefined) conditions.push(`email = ${params.add(filters.email)}`);
  if (filters.name !== undefined) conditions.push(`name = ${params.add(filters.name)}`);
  if (filters.city !== undefined) conditions.push(`address ->> 'city' = ${params.add(filters.city)}`);
  if (filters.createdBefore) conditions.push(`created_at < ${params.add(filters.createdBefore, 'timestamptz')}`);
  if (filters.createdAfter) conditions.push(`created_at > ${params.add(filters.createdAfter, 'timestamptz')}`);
  if (filters.updatedBefore) conditions.push(`updated_at < ${params.add(filters.updatedBefore, 'timestamptz')}`);
  if (filters.updatedAfter) conditions.push(`updated_at > ${params.add(filters.updatedAfter, 'timestamptz')}`);
  return conditions;
}

/**
 * When a change to an existing row happens: the request's time, or one millisecond after the
 * row's previous change when that is later. A row's timestamps, and so its activity, then follow
 * the order its changes committed in, whatever the clocks of several servers or a wait for the
 * row's lock did to the request times.
 */
const changeTime = (at: string, table = 'customers') =>
  `GREATEST(${at}, coalesce(${table}.updated_at, ${table}.created_at) + interval '1 millisecond')`;

/**
 * Wraps a write that returns customer rows so that the same statement records one activity
 * event per row: no change without its event, no event without its change. The event happens
 * at the row's own new timestamp unless `eventTime` says otherwise.
 */
function withEvent(
  write: string,
  type: string,
  stamp: WriteStamp,
  params: Params,
  { preparing, eventTime }: { preparing?: string; eventTime?: string } = {},
): string {
  // Data-modifying CTEs must sit at the top level, so a write's own CTEs come first.
  return `WITH ${preparing ? `${preparing},` : ''} changed AS (${write}),
    logged AS (
      INSERT INTO customer_events (id, customer_id, type, data, group_id, created_at)
      SELECT ${params.add(stamp.eventId)}, id, ${type}, jsonb_build_object('customer', to_jsonb(changed)),
             ${params.add(stamp.requestId)}, ${eventTime ?? 'coalesce(changed.updated_at, changed.created_at)::timestamptz'}
      FROM changed
    )
    SELECT * FROM changed`;
}

/**
 * How many live customers match the filters. With no filter, or a city alone, the answer is a
 * sum over a few rows of customer_counts (kept exact by triggers), whatever the table's size;
 * other filters count the matching rows through their index.
 */
function countStatement(filters: CustomerFilters, params: Params): string {
  const used = Object.entries(filters).filter(([, value]) => value !== undefined);
  if (used.length === 0) {
    return `SELECT coalesce(sum(live), 0)::int AS total FROM customer_counts WHERE dimension = 'all'`;
  }
  if (used.length === 1 && filters.city !== undefined) {
    return `SELECT coalesce(sum(live), 0)::int AS total FROM customer_counts
      WHERE dimension = 'city' AND value = ${params.add(filters.city)}`;
  }
  return `SELECT count(*)::int AS total FROM customers WHERE ${filterConditions(filters, params).join(' AND ')}`;
}

function eventConditions(filters: EventFilters, params: Params): string[] {
  const conditions = [`customer_id = ${params.add(filters.customerId)}`];
  if (filters.type !== undefined) conditions.push(`type = ${params.add(filters.type)}`);
  if (filters.startDate) conditions.push(`created_at >= ${params.add(filters.startDate, 'timestamptz')}`);
  if (filters.endDate) conditions.push(`created_at <= ${params.add(filters.endDate, 'timestamptz')}`);
  return conditions;
}

/** One customer write of a batch statement: its input row, the customer's id (new or existing), the fields it sends. */
export interface BatchWrite {
  row: number;
  id: string;
  sourceId: string | null;
  changes: CustomerChanges;
}

/** A field of a batch row (the jsonb object `i`), as its column's type; a JSON null is SQL NULL. */
function batchValue(field: keyof CustomerChanges): string {
  switch (WRITABLE[field]) {
    case 'jsonb':
      return `NULLIF(i -> '${field}', 'null'::jsonb)`;
    case 'date':
      return `(i ->> '${field}')::date`;
    default:
      return `i ->> '${field}'`;
  }
}

/** When a batch is written and by which request: the group of the activity events it records. */
export interface BatchStamp {
  at: string;
  requestId: string;
}

/**
 * A whole batch as one jsonb parameter: each row carries only the fields it sends, and the id
 * of the activity event its write records.
 */
const batchParam = (writes: readonly BatchWrite[]): string =>
  JSON.stringify(
    writes.map(({ row, id, sourceId, changes }) => ({ ...changes, row, id, source_id: sourceId, event_id: newEventId() })),
  );

/** The activity events of a batch statement's written rows (CTE `changed`, joined to its input row `i`). */
const batchEvents = (type: string, at: string, requestId: string) =>
  `INSERT INTO customer_events (id, customer_id, type, data, group_id, created_at)
   SELECT batch.i ->> 'event_id', changed.id, '${type}',
          jsonb_build_object('customer', to_jsonb(changed) - 'row'), ${requestId}, changed.${at}::timestamptz
   FROM changed JOIN batch ON (batch.i ->> 'row')::int = changed.row`;

/** The share of the table a bulk write must change for the planner's statistics of it to be stale. */
const STALE_STATISTICS_SHARE = 0.1;

/** A live customer the metadata of which a batch is about to merge into. */
export interface LockedMetadata {
  id: string;
  source_id: string;
  metadata: Record<string, unknown>;
}

export function createCustomerStore(db: pg.Pool) {
  const one = async (text: string, values: unknown[]): Promise<CustomerRow | undefined> =>
    (await db.query<CustomerRow>(text, values)).rows[0];

  /** Applies changes to the live customer the subquery (over parameter $1) picks. */
  async function updateWhere(pick: string, key: string, changes: CustomerChanges, stamp: WriteStamp) {
    const params = new Params();
    params.add(key);
    const assignments = changedColumns(changes, params).map(([column, value]) => `${column} = ${value}`);
    assignments.push(`updated_at = ${changeTime(params.add(stamp.at, 'timestamptz'))}`);
    const update = `UPDATE customers SET ${assignments.join(', ')}
       WHERE id = (${pick}) AND deleted_at IS NULL
       RETURNING ${COLUMNS}`;
    return one(withEvent(update, "'customer.updated'", stamp, params), params.values);
  }

  return {
    /** The live customer with this id, or else this source_id. */
    get: (key: string) => one(`SELECT ${COLUMNS} FROM customers WHERE id = (${LIVE_BY_KEY}) AND deleted_at IS NULL`, [key]),

    /**
     * Creates a customer, or, when a live customer already has this source_id, applies the
     * changes to it instead. One statement, so concurrent calls with one source_id make one customer.
     */
    async upsert(id: string, sourceId: string | null, changes: CustomerChanges, stamp: WriteStamp) {
      const params = new Params();
      const changed = changedColumns(changes, params);
      const columns = ['id', 'source_id', 'created_at', ...changed.map(([column]) => column)];
      const values = [
        params.add(id),
        params.add(sourceId),
        params.add(stamp.at, 'timestamptz'),
        ...changed.map(([, value]) => value),
      ];
      const updates = [
        ...changed.map(([column]) => `${column} = EXCLUDED.${column}`),
        `updated_at = ${changeTime('EXCLUDED.created_at')}`,
      ];
      const upsert = `INSERT INTO customers (${columns.join(', ')}) VALUES (${values.join(', ')})
         ON CONFLICT (source_id) WHERE deleted_at IS NULL DO UPDATE SET ${updates.join(', ')}
         RETURNING ${COLUMNS}`;
      // An update always sets updated_at: a row without one was just created.
      const type = "CASE WHEN updated_at IS NULL THEN 'customer.created' ELSE 'customer.updated' END";
      return (await one(withEvent(upsert, type, stamp, params), params.values))!;
    },

    /** Applies changes to the live customer with this exact id. */
    updateById: (id: string, changes: CustomerChanges, stamp: WriteStamp) => updateWhere('SELECT $1::text', id, changes, stamp),

    /** Applies changes to the live customer with this id, or else this source_id. */
    update: (key: string, changes: CustomerChanges, stamp: WriteStamp) => updateWhere(LIVE_BY_KEY, key, changes, stamp),

    /**
     * Batch writes: each runs as one statement inside the caller's transaction. Creates the
     * customers of the batch, except those whose source_id a live customer already has (the `id`
     * given is the new customer's), and answers the `row` of each write it created. Source_ids
     * must be unique within the batch.
     */
    async insertMissing(tx: Queryable, writes: readonly BatchWrite[], stamp: BatchStamp): Promise<number[]> {
      if (writes.length === 0) return [];
      const values = WRITABLE_FIELDS.map((field) =>
        field === 'metadata' ? `COALESCE(${batchValue(field)}, '{}'::jsonb)` : batchValue(field),
      );
      const { rows } = await tx.query<{ row: number }>(
        `WITH batch AS (SELECT i FROM jsonb_array_elements($1::jsonb) AS i),
         inserted AS (
           INSERT INTO customers (id, source_id, created_at, ${WRITABLE_FIELDS.join(', ')})
           SELECT i ->> 'id', i ->> 'source_id', $2::timestamptz, ${values.join(', ')} FROM batch
           ON CONFLICT (source_id) WHERE deleted_at IS NULL DO NOTHING
           RETURNING ${COLUMNS}
         ),
         changed AS (
           SELECT inserted.*, (batch.i ->> 'row')::int AS row FROM inserted JOIN batch ON batch.i ->> 'id' = inserted.id
         ),
         logged AS (${batchEvents('customer.created', 'created_at', '$3')})
         SELECT changed.row FROM changed`,
        [batchParam(writes), stamp.at, stamp.requestId],
      );
      return rows.map(({ row }) => row);
    },

    /**
     * Applies each write's changes to the live customer it names by `id` or by `source_id`, with
     * PUT semantics (fields not sent stay), and answers the `row` of each write that found its
     * customer. The keys must be unique within the batch.
     */
    async updateMatching(
      tx: Queryable,
      writes: readonly BatchWrite[],
      matchBy: 'id' | 'source_id',
      stamp: BatchStamp,
    ): Promise<number[]> {
      if (writes.length === 0) return [];
      const assignments = WRITABLE_FIELDS.map(
        (field) => `${field} = CASE WHEN i ? '${field}' THEN ${batchValue(field)} ELSE c.${field} END`,
      );
      const { rows } = await tx.query<{ row: number }>(
        `WITH batch AS (SELECT i FROM jsonb_array_elements($1::jsonb) AS i),
         changed AS (
           UPDATE customers AS c SET ${assignments.join(', ')}, updated_at = ${changeTime('$2::timestamptz', 'c')}
           FROM batch
           WHERE c.deleted_at IS NULL AND c.${matchBy} = batch.i ->> '${matchBy}'
           RETURNING ${COLUMNS}, (batch.i ->> 'row')::int AS row
         ),
         logged AS (${batchEvents('customer.updated', 'updated_at', '$3')})
         SELECT changed.row FROM changed`,
        [batchParam(writes), stamp.at, stamp.requestId],
      );
      return rows.map(({ row }) => row);
    },

    /** Locks the live customers with these source_ids until the transaction ends, and reads their metadata. */
    async lockMetadata(tx: Queryable, sourceIds: readonly string[]): Promise<LockedMetadata[]> {
      const { rows } = await tx.query<LockedMetadata>(
        `SELECT id, source_id, metadata FROM customers
         WHERE deleted_at IS NULL AND source_id = ANY($1::text[]) ORDER BY id FOR UPDATE`,
        [sourceIds],
      );
      return rows;
    },

    /**
     * Deletes the live customer with this id or source_id. The row stays (its activity refers to
     * it) with its source_id renamed `<source_id>_deleted<timestamp>`, which frees the source_id.
     * The event keeps the customer as it was.
     */
    async remove(key: string, stamp: WriteStamp): Promise<boolean> {
      const params = new Params();
      params.add(key);
      const at = changeTime(params.add(stamp.at, 'timestamptz'));
      const deletion = `target AS (
          SELECT ${COLUMNS} FROM customers WHERE id = (${LIVE_BY_KEY}) AND deleted_at IS NULL FOR UPDATE
        ), deletion AS (
          UPDATE customers SET deleted_at = ${at},
            source_id = customers.source_id || '_deleted' || ${wireTime(at)}
          FROM target WHERE customers.id = target.id
          RETURNING customers.deleted_at
        )`;
      const result = await db.query(
        withEvent('SELECT * FROM target', "'customer.deleted'", stamp, params, {
          preparing: deletion,
          eventTime: '(SELECT deleted_at FROM deletion)',
        }),
        params.values,
      );
      return result.rowCount === 1;
    },

    /**
     * One page of live customers and how many match the filters. With a created_at cursor the
     * page also takes the rest of its last timestamp's customers, so a cursor that moves by
     * created_at alone (the official SDK's scroll) never skips customers sharing a timestamp.
     */
    async list({ filters, order, limit, page }: CustomerListRequest) {
      const countParams = new Params();
      const countSql = countStatement(filters, countParams);

      const params = new Params();
      const conditions = filterConditions(filters, params);
      const descending = order.startsWith('-');
      if (page.kind === 'cursor') {
        conditions.push(`created_at ${descending ? '<' : '>'} ${params.add(page.startingAfter, 'timestamptz')}`);
      }
      const where = conditions.join(' AND ');
      const offset = page.kind === 'offset' ? ` OFFSET ${params.add(page.offset)}` : '';
      const pageSql = `SELECT ${COLUMNS} FROM customers WHERE ${where}
        ORDER BY ${ORDER_BY[order]} LIMIT ${params.add(limit + 1)}${offset}`;

      const [counted, fetched] = await Promise.all([
        db.query<{ total: number }>(countSql, countParams.values),
        db.query<CustomerRow>(pageSql, params.values),
      ]);
      const total = counted.rows[0]!.total;
      const customers = fetched.rows.slice(0, limit);
      const last = customers.at(-1);
      const next = fetched.rows[limit];
      if (page.kind === 'offset' || !last || !next || next.created_at !== last.created_at) {
        return { customers, total, hasMore: next !== undefined };
      }

      // The page ends inside a group of customers created in the same millisecond: take the
      // rest of the group, and look one row past it to know whether more follow.
      const tieParams = new Params();
      const tieWhere = filterConditions(filters, tieParams).join(' AND ');
      const at = tieParams.add(last.created_at, 'timestamptz');
      const afterId = tieParams.add(last.id);
      const direction = descending ? 'DESC' : 'ASC';
      const tied = await db.query<CustomerRow & { tied: boolean }>(
        `SELECT * FROM (
           (SELECT ${COLUMNS}, true AS tied FROM customers
             WHERE ${tieWhere} AND created_at = ${at} AND id ${descending ? '<' : '>'} ${afterId})
           UNION ALL
           (SELECT ${COLUMNS}, false AS tied FROM customers
             WHERE ${tieWhere} AND created_at ${descending ? '<' : '>'} ${at}
             ORDER BY customers.created_at ${direction}, customers.id ${direction} LIMIT 1)
         ) AS rest ORDER BY tied DESC, id ${direction}`,
        tieParams.values,
      );
      const rest = tied.rows.filter((row) => row.tied).map(({ tied: _tied, ...row }) => row);
      return { customers: [...customers, ...rest], total, hasMore: tied.rows.some((row) => !row.tied) };
    },

    /** The customer whose activity is asked for: an id (live or deleted) wins, else a live source_id. */
    async findActivityOwner(key: string): Promise<string | undefined> {
      const { rows } = await db.query<{ id: string }>(
        `SELECT id FROM customers WHERE id = $1 OR (source_id = $1 AND deleted_at IS NULL)
         ORDER BY id = $1 DESC LIMIT 1`,
        [key],
      );
      return rows[0]?.id;
    },

    /** When one of this customer's events happened, to page from it. */
    async eventTime(customerId: string, eventId: string): Promise<string | undefined> {
      const { rows } = await db.query<{ created_at: string }>(
        `SELECT ${isoTimestamp('created_at')} FROM customer_events WHERE id = $1 AND customer_id = $2`,
        [eventId, customerId],
      );
      return rows[0]?.created_at;
    },

    /**
     * A page of one customer's events in (created_at, id) order. The cursor is a keyset
     * condition on the (customer_id, created_at, id) index, so a page deep in a long history
     * costs what the first one does.
     */
    async listEvents({ order, limit, after, ...filters }: EventPageRequest) {
      const params = new Params();
      const conditions = eventConditions(filters, params);
      const direction = order === 'created_at' ? 'ASC' : 'DESC';
      const comparison = order === 'created_at' ? '>' : '<';
      if (after?.id !== undefined) {
        conditions.push(
          `(created_at, id) ${comparison} (${params.add(after.createdAt, 'timestamptz')}, ${params.add(after.id)})`,
        );
      } else if (after) {
        conditions.push(`created_at ${comparison} ${params.add(after.createdAt, 'timestamptz')}`);
      }
      const { rows } = await db.query<EventRow>(
        `SELECT ${EVENT_COLUMNS} FROM customer_events WHERE ${conditions.join(' AND ')}
         ORDER BY customer_events.created_at ${direction}, customer_events.id ${direction} LIMIT ${params.add(limit + 1)}`,
        params.values,
      );
      return { events: rows.slice(0, limit), hasMore: rows.length > limit };
    },

    async countEvents(filters: EventFilters): Promise<number> {
      const params = new Params();
      const { rows } = await db.query<{ total: number }>(
        `SELECT count(*)::int AS total FROM customer_events WHERE ${eventConditions(filters, params).join(' AND ')}`,
        params.values,
      );
      return rows[0]!.total;
    },

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
        const { rows } = await tx.query<{ source_id: string | null }>(
          'SELECT source_id FROM customers WHERE id = $1 FOR UPDATE',
          [customerId],
        );
        if (!rows[0]) return undefined;
        const events = await tx.query('DELETE FROM customer_events WHERE customer_id = $1', [customerId]);
        await tx.query('DELETE FROM customers WHERE id = $1', [customerId]);
        // A failed row of a bulk update or import can name the customer by its source_id (the one
        // it had before a delete renamed it): that goes too. Inputs are gone once an action ends.
        const sourceId = rows[0].source_id?.replace(/_deleted\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/, '');
        if (sourceId) await tx.query('DELETE FROM async_action_failures WHERE source_id = $1', [sourceId]);
        return { events: events.rowCount ?? 0 };
      });
    },
  };
}

export type CustomerStore = ReturnType<typeof createCustomerStore>;
