import { sql, type RawBuilder } from 'kysely';
import type pg from 'pg';
import { ApiError } from '../../errors.js';
import { newEventId } from '../../ids.js';
import { CUSTOMER_EVENTS } from '../../schemas/activity.js';
import type { Queryable } from '../../transaction.js';
import {
  CUSTOMER_SELECTION,
  customerColumn,
  deletedSourceIdSuffix,
  isLive,
  WRITABLE,
  WRITABLE_FIELDS,
  type CustomerChanges,
  type CustomerRow,
  type WritableField,
} from './columns.js';
import type { CustomerVersion } from '../etag.js';
import { liveByKey } from './customers.js';
import { builder, run, statement, timestamptz } from './statements.js';

/**
 * The one write path. Every write of customers, one customer or a thousand, is a batch: a
 * jsonb array of writes, applied by one statement that also records one activity event per
 * customer it changed. The rules live here once: PUT semantics (a field not sent stays), a
 * timestamp per change that is strictly later than the row's previous one, source_id unique
 * among live customers, and no change without its event.
 */

/** One customer write of a batch: its input row, the customer's id (new or existing) or key, the fields it sends. */
export interface BatchWrite {
  row: number;
  /** The new customer's id (creates), or the customer's id (updates by id). */
  id: string;
  sourceId: string | null;
  /** Updates by key: the customer's id, or else its live source_id. */
  key?: string;
  /** The versions of the customer the write applies to (If-Match); any when absent. */
  ifMatch?: readonly CustomerVersion[];
  changes: CustomerChanges;
}

/** When a batch is written and by which request: the group of the activity events it records. */
export interface WriteStamp {
  at: string;
  requestId: string;
}

/** What a statement answers for each written customer: its input row, or the customer as it now is. */
export type Returning = 'row' | 'customer';
export type Written<R extends Returning> = R extends 'customer' ? CustomerRow & { row: number } : { row: number };

interface BatchArgs {
  /** The writes as one jsonb array (batchParam). */
  batch: string;
  at: string;
  requestId: string;
}

/**
 * A whole batch as one jsonb parameter: each write carries only the fields it sends, and the id
 * of its activity event. Written as text around each write's changes: a spread copy of every
 * write, then stringified, took three times as long (11 against 3-4 ms per 1,000 writes).
 */
function batchParam(writes: readonly BatchWrite[]): string {
  const json = JSON.stringify;
  const items = writes.map(({ row, id, sourceId, key, ifMatch, changes }) => {
    const fields = json(changes);
    return (
      `{"row":${row},"id":${json(id)},"source_id":${json(sourceId)},"event_id":"${newEventId()}"` +
      (key === undefined ? '' : `,"key":${json(key)}`) +
      (ifMatch === undefined ? '' : `,"if_match":${json(ifMatch)}`) +
      (fields === '{}' ? '}' : `,${fields.slice(1)}`)
    );
  });
  return `[${items.join(',')}]`;
}

type BatchKey = 'row' | 'id' | 'source_id' | 'key' | 'event_id';

/** A key of the batch row `batch.i`, as text. */
const batchText = (key: BatchKey | WritableField) => sql<string>`(batch.i ->> ${sql.lit(key)})`;

/** The input row number of the batch row. */
const batchRow = sql<number>`(batch.i ->> 'row')::int`;

/** A field of the batch row as its column's type; a JSON null is SQL NULL. */
function batchValue(field: WritableField): RawBuilder<unknown> {
  switch (WRITABLE[field]) {
    case 'jsonb':
      return sql`NULLIF(batch.i -> ${sql.lit(field)}, 'null'::jsonb)`;
    case 'date':
      return sql`${batchText(field)}::date`;
    default:
      return batchText(field);
  }
}

/**
 * The writes, one row `i` each, and for writes by key the id of the live customer the key names
 * (`target`). customer_writes() (a migration) is jsonb_array_elements() with an estimate of one
 * row instead of a hundred: PostgreSQL then finds each written customer through its index,
 * whatever the table's size, where for a hundred rows it would rather hash the whole table.
 */
const batchRows = (args: BatchArgs, { byKey = false } = {}) =>
  builder
    .selectFrom(sql`customer_writes(${args.batch}::jsonb)`.as('i'))
    .select(sql<unknown>`i`.as('i'))
    .$if(byKey, (query) => query.select(liveByKey(sql<string>`i ->> 'key'`).as('target')));

/**
 * When a change to an existing row happens: the request's time, or one millisecond after the
 * row's previous change when that is later. A row's timestamps, and so its activity, then follow
 * the order its changes committed in, whatever the clocks of several servers or a wait for the
 * row's lock did to the request times.
 */
const changeTime = (at: string) =>
  sql<Date>`GREATEST(${timestamptz(at)}, coalesce(${customerColumn('updated_at')}, ${customerColumn('created_at')}) + interval '1 millisecond')`;

/**
 * Whether the customer is a version the batch row accepts (`if_match`, a list of versions), or
 * the row accepts any. Part of the write's WHERE: a concurrent change that commits first is seen
 * by the recheck of the locked row, so the check and the write are one.
 */
const isAcceptedVersion = sql<boolean>`(NOT (batch.i ? 'if_match') OR EXISTS (
  SELECT 1 FROM jsonb_array_elements(batch.i -> 'if_match') AS version
  WHERE version ->> 'id' = ${customerColumn('id')}
    AND (version ->> 'changedAt')::timestamptz = coalesce(${customerColumn('updated_at')}, ${customerColumn('created_at')})))`;

/**
 * The activity events of the customers a statement wrote: one per row of CTE `changed` (the
 * customers as the write left them, CUSTOMER_SELECTION, and besides the customer its input row,
 * its event's id and time: `row`, `event_id`, `event_at`). The snapshot is built from the
 * customer's columns: to_jsonb of the whole row, less the other three, copied it once per key removed.
 */
const recordEvents = (type: string, requestId: string) =>
  builder
    .insertInto('customer_events')
    .columns(['id', 'customer_id', 'type', 'data', 'group_id', 'created_at'])
    .expression(
      sql`SELECT changed.event_id, changed.id, ${sql.lit(type)},
        jsonb_build_object('customer', jsonb_build_object(${sql.raw(CUSTOMER_SELECTION.map(({ alias }) => `'${alias}', changed.${alias}`).join(', '))})),
        ${requestId}, changed.event_at
        FROM changed`,
    );

/** The statement's answer from `changed`: the input rows written, or also the customers as they now are. */
const answer = (returning: Returning) =>
  returning === 'row'
    ? sql`(SELECT changed.row FROM changed)`
    : sql`(SELECT ${sql.raw(['row', ...CUSTOMER_SELECTION.map((column) => column.alias)].map((column) => `changed.${column}`).join(', '))} FROM changed)`;

/** Both shapes of a statement, each written once. */
function shapes(write: (returning: Returning) => ReturnType<typeof statement<BatchArgs, unknown>>) {
  return { row: write('row'), customer: write('customer') };
}

/** Creates the customers of the batch, except those whose source_id a live customer already has. */
const INSERT_MISSING = shapes((returning) =>
  statement((args: BatchArgs) =>
    builder
      .with('batch', () => batchRows(args))
      // The batch by new customer id: one lookup per created customer, however large the batch.
      // Materialized: inlined, it would be aggregated again for every created customer.
      .with(
        (cte) => cte('by_id').materialized(),
        () => sql`(SELECT jsonb_object_agg(batch.i ->> 'id', batch.i) AS writes FROM batch)`,
      )
      .with('inserted', () =>
        builder
          .insertInto('customers')
          .columns(['id', 'source_id', 'created_at', ...WRITABLE_FIELDS])
          .expression(
            sql`SELECT ${batchText('id')}, ${batchText('source_id')}, ${timestamptz(args.at)},
              ${sql.join(
                WRITABLE_FIELDS.map((field) =>
                  field === 'metadata' ? sql`COALESCE(${batchValue(field)}, '{}'::jsonb)` : batchValue(field),
                ),
              )}
              FROM batch`,
          )
          .onConflict((conflict) => conflict.column('source_id').where(isLive).doNothing())
          .returning(CUSTOMER_SELECTION)
          .returning(customerColumn('created_at').as('event_at')),
      )
      .with(
        'changed',
        () =>
          // by_id read as a scalar subquery (an InitPlan: evaluated once, its value then referred
          // to): joined as a table, its one row, the whole batch, was copied for every customer.
          sql`(SELECT inserted.*, ((SELECT by_id.writes FROM by_id) -> inserted.id ->> 'row')::int AS row,
            (SELECT by_id.writes FROM by_id) -> inserted.id ->> 'event_id' AS event_id FROM inserted)`,
      )
      .with('logged', () => recordEvents(CUSTOMER_EVENTS.created.type, args.requestId))
      .selectFrom(answer(returning).as('answer'))
      .selectAll(),
  ),
);

/** How a batch names the customers it updates. */
export type MatchBy = 'id' | 'source_id' | 'key';

/** The live customer a batch row names. */
const MATCHES: Record<MatchBy, RawBuilder<boolean>> = {
  id: sql`${customerColumn('id')} = ${batchText('id')}`,
  source_id: sql`${customerColumn('source_id')} = ${batchText('source_id')}`,
  key: sql`${customerColumn('id')} = batch.target`,
};

/** Applies each write's fields to the live customer it names, with PUT semantics. */
const UPDATE_MATCHING = Object.fromEntries(
  (Object.keys(MATCHES) as MatchBy[]).map((matchBy) => [
    matchBy,
    shapes((returning) =>
      statement((args: BatchArgs) =>
        builder
          .with('batch', () => batchRows(args, { byKey: matchBy === 'key' }))
          .with('changed', (db) =>
            db
              .updateTable('customers')
              .set(
                Object.fromEntries(
                  WRITABLE_FIELDS.map((field) => [
                    field,
                    sql`CASE WHEN batch.i ? ${sql.lit(field)} THEN ${batchValue(field)} ELSE ${customerColumn(field)} END`,
                  ]),
                ),
              )
              .set({ updated_at: changeTime(args.at) })
              .from('batch')
              .where(isLive)
              .where(MATCHES[matchBy])
              .where(isAcceptedVersion)
              .returning(CUSTOMER_SELECTION)
              .returning([batchRow.as('row'), batchText('event_id').as('event_id'), customerColumn('updated_at').as('event_at')]),
          )
          .with('logged', () => recordEvents(CUSTOMER_EVENTS.updated.type, args.requestId))
          .selectFrom(answer(returning).as('answer'))
          .selectAll(),
      ),
    ),
  ]),
) as Record<MatchBy, ReturnType<typeof shapes>>;

/**
 * Deletes the live customer each write names by key. The row stays (its activity refers to it)
 * with its source_id renamed (deletedSourceIdSuffix), which frees the source_id. The event keeps
 * the customer as it was, at the time of the delete.
 */
const REMOVE = statement((args: BatchArgs) =>
  builder
    .with('batch', () => batchRows(args, { byKey: true }))
    .with('changed', (db) =>
      db
        .selectFrom('customers')
        .innerJoin('batch', (join) => join.on(MATCHES.key))
        .select(CUSTOMER_SELECTION)
        .select([batchRow.as('row'), batchText('event_id').as('event_id'), changeTime(args.at).as('event_at')])
        .where(isLive)
        .where(isAcceptedVersion)
        .forUpdate(['customers']),
    )
    .with('deletion', (db) =>
      db
        .updateTable('customers')
        .set({ deleted_at: sql<Date>`changed.event_at` })
        .set({ source_id: sql`${customerColumn('source_id')} || ${deletedSourceIdSuffix(sql<Date>`changed.event_at`)}` })
        .from('changed')
        .whereRef('customers.id', '=', 'changed.id'),
    )
    .with('logged', () => recordEvents(CUSTOMER_EVENTS.deleted.type, args.requestId))
    .selectFrom('changed')
    .select('changed.row'),
);

/** Locks the live customers with these source_ids until the transaction ends, and reads their metadata. */
const LOCK_METADATA = statement((args: { sourceIds: readonly string[] }) =>
  builder
    .selectFrom('customers')
    .select([
      'customers.id',
      sql<string>`${customerColumn('source_id')}`.as('source_id'),
      sql<Record<string, unknown>>`${customerColumn('metadata')}`.as('metadata'),
    ])
    .where(isLive)
    .where(sql<boolean>`${customerColumn('source_id')} = ANY(${args.sourceIds}::text[])`)
    .orderBy('customers.id')
    .forUpdate(),
);

/**
 * Between one statement finding a source_id taken and the next updating that customer, a
 * concurrent delete can free it. The writes affected go round again; this many rounds is plenty.
 */
export const MAX_ROUNDS = 5;
export const CHANGED_CONCURRENTLY = 'The customer was changed by another request at the same time: send it again';

/** What an upsert did: the customers it created and updated, and the writes it could not apply in MAX_ROUNDS. */
export interface UpsertOutcome<R extends Returning> {
  created: Array<Written<R>>;
  updated: Array<Written<R>>;
  unapplied: BatchWrite[];
}

const args = (writes: readonly BatchWrite[], { at, requestId }: WriteStamp): BatchArgs => ({
  batch: batchParam(writes),
  at,
  requestId,
});

/**
 * The writes of customers. Batch writes run on `db`: a transaction's connection or the pool.
 * Each source_id or key may appear once in a batch: one statement cannot change a row twice.
 */
export function customerWrites(pool: pg.Pool) {
  /** Creates the customers whose source_id no live customer has. */
  async function insertMissing<R extends Returning>(
    db: Queryable,
    writes: readonly BatchWrite[],
    stamp: WriteStamp,
    returning: R,
  ) {
    if (writes.length === 0) return [];
    return (await run(db, INSERT_MISSING[returning], args(writes, stamp))) as Array<Written<R>>;
  }

  /** Applies each write to the live customer it names by `matchBy`, with PUT semantics (fields not sent stay). */
  async function updateMatching<R extends Returning>(
    db: Queryable,
    writes: readonly BatchWrite[],
    matchBy: MatchBy,
    stamp: WriteStamp,
    returning: R,
  ) {
    if (writes.length === 0) return [];
    return (await run(db, UPDATE_MATCHING[matchBy][returning], args(writes, stamp))) as Array<Written<R>>;
  }

  /**
   * Creates each missing customer and updates each existing one, by source_id (a write without
   * one never finds a customer, so it is created). A write that finds its customer the other way
   * round costs a wasted statement, so `expectExisting` picks which statement goes first. What the
   * second statement leaves was created or deleted meanwhile by another request: it goes round again.
   */
  async function upsert<R extends Returning>(
    db: Queryable,
    writes: readonly BatchWrite[],
    stamp: WriteStamp,
    { expectExisting, returning }: { expectExisting: boolean; returning: R },
  ): Promise<UpsertOutcome<R>> {
    const outcome: UpsertOutcome<R> = { created: [], updated: [], unapplied: [] };
    const remaining = (done: Array<Written<R>>, tried: readonly BatchWrite[]) => {
      const rows = new Set(done.map((written) => written.row));
      return tried.filter((write) => !rows.has(write.row));
    };
    const insert = async (pending: readonly BatchWrite[]) => {
      const created = await insertMissing(db, pending, stamp, returning);
      outcome.created.push(...created);
      return remaining(created, pending);
    };
    const update = async (pending: readonly BatchWrite[]) => {
      const updated = await updateMatching(db, pending, 'source_id', stamp, returning);
      outcome.updated.push(...updated);
      return remaining(updated, pending);
    };
    let pending = writes;
    for (let round = 1; pending.length > 0; round += 1) {
      if (round > MAX_ROUNDS) {
        outcome.unapplied = [...pending];
        break;
      }
      pending = expectExisting ? await insert(await update(pending)) : await update(await insert(pending));
    }
    return outcome;
  }

  /** A single customer's write: the one-row case of a batch, on the pool. */
  const one = (changes: CustomerChanges, fields: Partial<BatchWrite>): BatchWrite[] => [
    { row: 0, id: '', sourceId: null, ...fields, changes },
  ];

  return {
    insertMissing,
    updateMatching,
    upsert,

    lockMetadata: (db: Queryable, sourceIds: readonly string[]) => run(db, LOCK_METADATA, { sourceIds }),

    /**
     * Creates a customer, or, when a live customer already has this source_id, applies the
     * changes to it instead: concurrent calls with one source_id make one customer.
     */
    async create(id: string, sourceId: string | null, changes: CustomerChanges, stamp: WriteStamp): Promise<CustomerRow> {
      const { created, updated } = await upsert(pool, one(changes, { id, sourceId }), stamp, {
        expectExisting: false,
        returning: 'customer',
      });
      const written = created[0] ?? updated[0];
      if (!written) throw new ApiError(409, { key: 'conflict', message: 'Conflict', details: CHANGED_CONCURRENTLY });
      return withoutRow(written);
    },

    /** Applies changes to the live customer with this exact id. */
    updateById: async (id: string, changes: CustomerChanges, stamp: WriteStamp) =>
      withoutRow((await updateMatching(pool, one(changes, { id }), 'id', stamp, 'customer'))[0]),

    /** Applies changes to the live customer with this id, or else this source_id, if it is a version `ifMatch` accepts. */
    update: async (key: string, changes: CustomerChanges, stamp: WriteStamp, ifMatch?: readonly CustomerVersion[]) =>
      withoutRow((await updateMatching(pool, one(changes, { key, ifMatch }), 'key', stamp, 'customer'))[0]),

    /** Deletes the live customer with this id or source_id if it is a version `ifMatch` accepts; false when there is none. */
    remove: async (key: string, stamp: WriteStamp, ifMatch?: readonly CustomerVersion[]): Promise<boolean> =>
      (await run(pool, REMOVE, args(one({}, { key, ifMatch }), stamp))).length === 1,
  };
}

function withoutRow(written: Written<'customer'>): CustomerRow;
function withoutRow(written: Written<'customer'> | undefined): CustomerRow | undefined;
function withoutRow(written: Written<'customer'> | undefined): CustomerRow | undefined {
  if (!written) return undefined;
  const { row: _row, ...customer } = written;
  return customer;
}
