import { sql } from 'kysely';
import type pg from 'pg';
import { withTransaction } from '../../transaction.js';
import type { MetadataDefinition } from '../metadata-rules.js';
import { builder, run, statement, wireTime } from './statements.js';

/** A metadata schema as stored, its times in the wire format. */
export interface MetadataSchemaRow {
  id: string;
  related_object: string;
  allow_defined_only: boolean;
  properties: Record<string, MetadataDefinition>;
  created_at: string;
  updated_at: string | null;
}

const SELECTION = [
  'metadata_schemas.id',
  'metadata_schemas.related_object',
  'metadata_schemas.allow_defined_only',
  sql<Record<string, MetadataDefinition>>`${sql.ref('metadata_schemas.properties')}`.as('properties'),
  wireTime(sql.ref('metadata_schemas.created_at')).as('created_at'),
  sql<string | null>`${wireTime(sql.ref('metadata_schemas.updated_at'))}`.as('updated_at'),
] as const;

const GET = statement((args: { id: string }) =>
  builder.selectFrom('metadata_schemas').select(SELECTION).where('metadata_schemas.id', '=', args.id),
);

const FOR_OBJECT = statement((args: { relatedObject: string }) =>
  builder.selectFrom('metadata_schemas').select(SELECTION).where('metadata_schemas.related_object', '=', args.relatedObject),
);

const ALL = statement((_args: { all: true }) =>
  builder.selectFrom('metadata_schemas').select(SELECTION).orderBy('metadata_schemas.created_at').orderBy('metadata_schemas.id'),
);

/** Stores a schema unless its resource has one: no row back then. */
const INSERT = statement(
  (args: { id: string; relatedObject: string; allowDefinedOnly: boolean; properties: string; createdAt: string }) =>
    builder
      .insertInto('metadata_schemas')
      .values({
        id: args.id,
        related_object: args.relatedObject,
        allow_defined_only: args.allowDefinedOnly,
        properties: sql`${args.properties}::jsonb`,
        created_at: sql`${args.createdAt}::timestamptz`,
      })
      .onConflict((conflict) => conflict.column('related_object').doNothing())
      .returning(SELECTION),
);

/** Replaces a schema's definitions and setting, as the service merged them under the row lock. */
const UPDATE = statement((args: { id: string; allowDefinedOnly: boolean; properties: string; updatedAt: string }) =>
  builder
    .updateTable('metadata_schemas')
    .set({
      allow_defined_only: args.allowDefinedOnly,
      properties: sql`${args.properties}::jsonb`,
      updated_at: sql`${args.updatedAt}::timestamptz`,
    })
    .where('metadata_schemas.id', '=', args.id)
    .returning(SELECTION),
);

const LOCK = statement((args: { id: string }) =>
  builder.selectFrom('metadata_schemas').select(SELECTION).where('metadata_schemas.id', '=', args.id).forUpdate(),
);

const REMOVE = statement((args: { id: string }) =>
  builder.deleteFrom('metadata_schemas').where('metadata_schemas.id', '=', args.id).returning('metadata_schemas.id'),
);

/** How long the fill of newly declared keys may take: it reads every live customer. */
const SYNC_TIMEOUT_MS = 3_600_000;

/**
 * Makes customer_metadata_values hold the keys the customer schema declares as a number or a
 * string (migration index_declared_metadata): a newly declared key is filled from every live
 * customer while customers' writes wait, so neither PostgreSQL's statement timeout nor node-pg's
 * read timeout applies to it. Runs in the transaction that changes the schema, so filters never
 * see one without the other.
 */
async function syncIndexedValues(tx: pg.PoolClient): Promise<void> {
  await tx.query(`SET LOCAL statement_timeout = ${SYNC_TIMEOUT_MS}`);
  const sync: pg.QueryConfig & { query_timeout: number } = {
    text: 'SELECT sync_customer_metadata_values()',
    query_timeout: SYNC_TIMEOUT_MS,
  };
  await tx.query(sync);
}

/** The metadata schemas of resources (this service keeps the customer one). */
export function metadataSchemaStore(db: pg.Pool) {
  return {
    get: async (id: string) => (await run(db, GET, { id }))[0],
    forObject: async (relatedObject: string) => (await run(db, FOR_OBJECT, { relatedObject }))[0],
    all: () => run(db, ALL, { all: true }),
    async insert(row: MetadataSchemaRow): Promise<MetadataSchemaRow | undefined> {
      return withTransaction(db, async (tx) => {
        const [stored] = await run(tx, INSERT, {
          id: row.id,
          relatedObject: row.related_object,
          allowDefinedOnly: row.allow_defined_only,
          properties: JSON.stringify(row.properties),
          createdAt: row.created_at,
        });
        if (stored) await syncIndexedValues(tx);
        return stored;
      });
    },
    /** Changes a schema with `change`, which sees the stored row locked: concurrent updates never lose a definition. */
    async update(
      id: string,
      change: (current: MetadataSchemaRow) => Pick<MetadataSchemaRow, 'allow_defined_only' | 'properties' | 'updated_at'>,
    ): Promise<MetadataSchemaRow | undefined> {
      return withTransaction(db, async (tx) => {
        const [current] = await run(tx, LOCK, { id });
        if (!current) return undefined;
        const next = change(current);
        const [stored] = await run(tx, UPDATE, {
          id,
          allowDefinedOnly: next.allow_defined_only,
          properties: JSON.stringify(next.properties),
          updatedAt: next.updated_at!,
        });
        await syncIndexedValues(tx);
        return stored;
      });
    },
    async remove(id: string): Promise<boolean> {
      return withTransaction(db, async (tx) => {
        const removed = (await run(tx, REMOVE, { id })).length > 0;
        if (removed) await syncIndexedValues(tx);
        return removed;
      });
    },
  };
}
