import type pg from 'pg';
import type { Queryable } from '../transaction.js';
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

/** A timestamptz column in the wire format, under its own name. */
export const isoTimestamp = (column: string) =>
  `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS ${column}`;

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

const ORDER_BY: Record<CustomerOrder, string> = {
  created_at: 'created_at ASC, id ASC',
  '-created_at': 'created_at DESC, id DESC',
  updated_at: 'updated_at ASC NULLS LAST, id ASC',
  '-updated_at': 'updated_at DESC NULLS LAST, id DESC',
  source_id: 'source_id ASC NULLS LAST, id ASC',
  '-source_id': 'source_id DESC NULLS LAST, id DESC',
};

/** A live customer by `id`, or else by `source_id` (an id wins when both match different customers). */
const LIVE_BY_KEY = `SELECT id FROM customers
  WHERE deleted_at IS NULL AND (id = $1 OR source_id = $1)
  ORDER BY id = $1 DESC LIMIT 1`;

/** Collects positional parameters while a statement is being written. */
class Params {
  readonly values: unknown[] = [];
  add(value: unknown, cast?: string): string {
    this.values.push(value);
    return cast ? `$${this.values.length}::${cast}` : `$${this.values.length}`;
  }
}

function changedColumns(changes: CustomerChanges, params: Params): Array<[column: string, placeholder: string]> {
  return (Object.keys(WRITABLE) as Array<keyof CustomerChanges>)
    .filter((field) => changes[field] !== undefined)
    .map((field) => {
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

const WRITABLE_FIELDS = Object.keys(WRITABLE) as Array<keyof CustomerChanges>;

/** A whole batch as one jsonb parameter: each row carries only the fields it sends. */
const batchParam = (writes: readonly BatchWrite[]): string =>
  JSON.stringify(writes.map(({ row, id, sourceId, changes }) => ({ ...changes, row, id, source_id: sourceId })));

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
  async function updateWhere(pick: string, key: string, changes: CustomerChanges, now: string) {
    const params = new Params();
    params.add(key);
    const assignments = changedColumns(changes, params).map(([column, value]) => `${column} = ${value}`);
    assignments.push(`updated_at = ${params.add(now, 'timestamptz')}`);
    return one(
      `UPDATE customers SET ${assignments.join(', ')}
       WHERE id = (${pick}) AND deleted_at IS NULL
       RETURNING ${COLUMNS}`,
      params.values,
    );
  }

  return {
    /** The live customer with this id, or else this source_id. */
    get: (key: string) =>
      one(`SELECT ${COLUMNS} FROM customers WHERE id = (${LIVE_BY_KEY}) AND deleted_at IS NULL`, [key]),

    /**
     * Creates a customer, or, when a live customer already has this source_id, applies the
     * changes to it instead. One statement, so concurrent calls with one source_id make one customer.
     */
    async upsert(id: string, sourceId: string | null, changes: CustomerChanges, now: string) {
      const params = new Params();
      const changed = changedColumns(changes, params);
      const columns = ['id', 'source_id', 'created_at', ...changed.map(([column]) => column)];
      const values = [params.add(id), params.add(sourceId), params.add(now, 'timestamptz'), ...changed.map(([, value]) => value)];
      const updates = [...changed.map(([column]) => `${column} = EXCLUDED.${column}`), 'updated_at = EXCLUDED.created_at'];
      const row = await one(
        `INSERT INTO customers (${columns.join(', ')}) VALUES (${values.join(', ')})
         ON CONFLICT (source_id) WHERE deleted_at IS NULL DO UPDATE SET ${updates.join(', ')}
         RETURNING ${COLUMNS}`,
        params.values,
      );
      return row!;
    },

    /** Applies changes to the live customer with this exact id. */
    updateById: (id: string, changes: CustomerChanges, now: string) =>
      updateWhere('SELECT $1::text', id, changes, now),

    /** Applies changes to the live customer with this id, or else this source_id. */
    update: (key: string, changes: CustomerChanges, now: string) => updateWhere(LIVE_BY_KEY, key, changes, now),

    /**
     * Batch writes: each runs as one statement inside the caller's transaction. Creates the
     * customers of the batch, except those whose source_id a live customer already has; the
     * created rows come back (the `id` given is the new customer's). Source_ids must be unique
     * within the batch.
     */
    async insertMissing(tx: Queryable, writes: readonly BatchWrite[], now: string): Promise<CustomerRow[]> {
      if (writes.length === 0) return [];
      const values = WRITABLE_FIELDS.map((field) =>
        field === 'metadata' ? `COALESCE(${batchValue(field)}, '{}'::jsonb)` : batchValue(field),
      );
      const { rows } = await tx.query<CustomerRow>(
        `INSERT INTO customers (id, source_id, created_at, ${WRITABLE_FIELDS.join(', ')})
         SELECT i ->> 'id', i ->> 'source_id', $2::timestamptz, ${values.join(', ')}
         FROM jsonb_array_elements($1::jsonb) AS i
         ON CONFLICT (source_id) WHERE deleted_at IS NULL DO NOTHING
         RETURNING ${COLUMNS}`,
        [batchParam(writes), now],
      );
      return rows;
    },

    /**
     * Applies each write's changes to the live customer it names by `id` or by `source_id`, with
     * PUT semantics (fields not sent stay). The keys must be unique within the batch. Customers
     * not found are simply not among the rows returned, each tagged with its write's row.
     */
    async updateMatching(
      tx: Queryable,
      writes: readonly BatchWrite[],
      matchBy: 'id' | 'source_id',
      now: string,
    ): Promise<Array<CustomerRow & { row: number }>> {
      if (writes.length === 0) return [];
      const assignments = WRITABLE_FIELDS.map(
        (field) => `${field} = CASE WHEN i ? '${field}' THEN ${batchValue(field)} ELSE c.${field} END`,
      );
      const { rows } = await tx.query<CustomerRow & { row: number }>(
        `UPDATE customers AS c SET ${assignments.join(', ')}, updated_at = $2::timestamptz
         FROM jsonb_array_elements($1::jsonb) AS i
         WHERE c.deleted_at IS NULL AND c.${matchBy} = i ->> '${matchBy}'
         RETURNING ${COLUMNS}, (i ->> 'row')::int AS row`,
        [batchParam(writes), now],
      );
      return rows;
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
     */
    async remove(key: string, now: string): Promise<boolean> {
      const result = await db.query(
        `UPDATE customers SET deleted_at = $2::timestamptz, source_id = source_id || '_deleted' || $3::text
         WHERE id = (${LIVE_BY_KEY}) AND deleted_at IS NULL`,
        [key, now, now],
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
      const countSql = `SELECT count(*)::int AS total FROM customers WHERE ${filterConditions(filters, countParams).join(' AND ')}`;

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
             ORDER BY created_at ${direction}, id ${direction} LIMIT 1)
         ) AS rest ORDER BY tied DESC, id ${direction}`,
        tieParams.values,
      );
      const rest = tied.rows.filter((row) => row.tied).map(({ tied: _tied, ...row }) => row);
      return { customers: [...customers, ...rest], total, hasMore: tied.rows.some((row) => !row.tied) };
    },
  };
}

export type CustomerStore = ReturnType<typeof createCustomerStore>;
