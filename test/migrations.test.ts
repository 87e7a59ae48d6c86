import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PrismaClient } from '../src/generated/prisma/client.js';
import { databaseKind, useTestApp } from './support/app.js';
import { customerBody, unique } from './support/customers.js';
import { emptyDatabase } from './support/database.js';

const test = useTestApp();

const COLUMNS = `SELECT table_name, column_name, data_type, is_nullable, column_default, datetime_precision
  FROM information_schema.columns
  WHERE table_schema = 'public' AND table_name <> '_prisma_migrations'
  ORDER BY table_name, column_name`;

const CONSTRAINTS = `SELECT conrelid::regclass::text AS table_name, conname, contype, pg_get_constraintdef(oid) AS definition
  FROM pg_constraint WHERE connamespace = 'public'::regnamespace AND conrelid::regclass::text <> '_prisma_migrations'
  ORDER BY conname`;

async function query<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

describe('migrations', () => {
  let fromSchema: { url: string; drop: () => Promise<void> };

  beforeAll(async () => {
    // What prisma/schema.prisma describes, written straight from the schema, with no migration.
    fromSchema = await emptyDatabase(databaseKind());
    const { stdout: script } = await promisify(execFile)(
      'npx',
      ['prisma', 'migrate', 'diff', '--from-empty', '--to-schema-datamodel', 'prisma/schema.prisma', '--script'],
      { env: { ...process.env, DATABASE_URL: fromSchema.url }, encoding: 'utf8' },
    );
    await query(fromSchema.url, script);
  });
  afterAll(() => fromSchema.drop());

  it('build the same tables, columns and constraints as prisma/schema.prisma', async () => {
    expect(await query(test.databaseUrl, COLUMNS)).toEqual(await query(fromSchema.url, COLUMNS));
    expect(await query(test.databaseUrl, CONSTRAINTS)).toEqual(await query(fromSchema.url, CONSTRAINTS));
  });

  it('add the partial and expression indexes the schema language cannot express', async () => {
    const indexes = await query<{ indexname: string }>(
      test.databaseUrl,
      "SELECT indexname FROM pg_indexes WHERE tablename = 'customers' ORDER BY indexname",
    );
    expect(indexes.map((index) => index.indexname)).toEqual([
      'customers_city_live_idx',
      'customers_created_at_live_idx',
      'customers_email_live_idx',
      'customers_live_metadata_idx',
      'customers_name_live_idx',
      'customers_pkey',
      'customers_source_id_asc_live_idx',
      'customers_source_id_desc_live_idx',
      'customers_source_id_live_key',
      'customers_updated_at_asc_live_idx',
      'customers_updated_at_desc_live_idx',
    ]);
  });
});

describe('indexes for lookups in tables that only grow', () => {
  /** The index PostgreSQL scans for a statement when it may choose any (sequential scans priced out). */
  async function indexScanned(sql: string, values: unknown[]): Promise<string | undefined> {
    const client = await test.db.connect();
    try {
      await client.query('BEGIN');
      await client.query('SET LOCAL enable_seqscan = off');
      const { rows } = await client.query(`EXPLAIN (FORMAT JSON) ${sql}`, values);
      return /"Index Name":\s*"([^"]+)"/.exec(JSON.stringify(rows[0]['QUERY PLAN']))?.[1];
    } finally {
      await client.query('ROLLBACK');
      client.release();
    }
  }

  it('find live customers by a metadata value, as the filter language compares it (containment)', async () => {
    expect(await indexScanned('SELECT count(*) FROM customers WHERE live AND (metadata @> $1::jsonb)', ['{"tier":"gold"}'])).toBe(
      'customers_live_metadata_idx',
    );
  });

  it('find the report rows naming a source_id, which permanent deletion erases', async () => {
    expect(await indexScanned('DELETE FROM async_action_applied_rows WHERE source_id = $1', ['some-source'])).toBe(
      'async_action_applied_rows_source_id_idx',
    );
  });

  it('find the failed rows naming a source_id, which permanent deletion erases', async () => {
    expect(await indexScanned('DELETE FROM async_action_failures WHERE source_id = $1', ['some-source'])).toBe(
      'async_action_failures_source_id_idx',
    );
  });

  it('find the abandoned uploads among all async actions, which every CSV upload removes', async () => {
    expect(
      await indexScanned(`DELETE FROM async_actions WHERE status = 'UPLOADING' AND created_at < $1::timestamptz`, [
        new Date().toISOString(),
      ]),
    ).toBe('async_actions_uploading_created_at_idx');
  });
});

describe('the store and the Prisma model agree', () => {
  let prisma: PrismaClient;
  beforeAll(() => {
    prisma = new PrismaClient({ adapter: new PrismaPg({ connectionString: test.databaseUrl }) });
  });
  afterAll(() => prisma.$disconnect());

  const every = (sourceId: string) => ({
    source_id: sourceId,
    name: 'Every Field',
    description: 'All of them',
    email: 'every@example.com',
    phone: '+1 555 0100',
    birthday: '1980-02-29',
    birthdate: '1981-03-01',
    address: { city: 'Lima', state: 'LIM', line_1: 'Av. 1', line_2: 'Dpto 2', country: 'PE', postal_code: '15001' },
    metadata: { vip: true, score: 9.5, tags: ['a', 'b'], nested: { level: 2 } },
  });

  it('a customer the API writes reads back through the ORM field for field', async () => {
    const body = every(unique('api-to-orm'));
    const created = (await test.api.post('/v1/customers', body).expect(200)).body;
    const updated = (await test.api.put(`/v1/customers/${created.id}`, { name: 'Renamed' }).expect(200)).body;
    const row = await prisma.customer.findUniqueOrThrow({ where: { id: created.id } });
    expect(row).toEqual({
      id: created.id,
      sourceId: body.source_id,
      name: 'Renamed',
      description: body.description,
      email: body.email,
      phone: body.phone,
      birthday: new Date('1980-02-29T00:00:00.000Z'),
      birthdate: new Date('1981-03-01T00:00:00.000Z'),
      address: body.address,
      metadata: body.metadata,
      createdAt: new Date(created.created_at),
      updatedAt: new Date(updated.updated_at),
      deletedAt: null,
      cockpitLinksRevokedThrough: null,
    });
  });

  it('a customer the ORM writes reads back through the API field for field', async () => {
    const body = every(unique('orm-to-api'));
    const row = await prisma.customer.create({
      data: {
        id: 'cust_writtenByTheOrm0000000',
        sourceId: body.source_id,
        name: body.name,
        description: body.description,
        email: body.email,
        phone: body.phone,
        birthday: new Date('1980-02-29'),
        birthdate: new Date('1981-03-01'),
        address: body.address,
        metadata: body.metadata,
        createdAt: new Date('2020-05-24T13:43:09.024Z'),
        updatedAt: new Date('2021-06-25T14:44:10.025Z'),
      },
    });
    const response = await test.api.get(`/v1/customers/${row.id}`).expect(200);
    expect(response.body).toEqual(
      customerBody(body, { id: row.id, createdAt: '2020-05-24T13:43:09.024Z', updatedAt: '2021-06-25T14:44:10.025Z' }),
    );
  });
});
