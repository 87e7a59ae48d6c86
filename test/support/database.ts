import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { startEmbeddedPostgres } from '../../src/embedded-postgres.js';

/**
 * The suite runs on a PostgreSQL server when it can reach one (by default
 * postgresql://postgres@127.0.0.1:5432/postgres, or TEST_DATABASE_URL), and otherwise on the
 * embedded database, as `npm start` does without DATABASE_URL. TEST_DATABASE=postgres or
 * TEST_DATABASE=embedded chooses explicitly.
 */
export type TestDatabaseKind = 'postgres' | 'embedded';

/** What global setup hands each test file: a migrated database name, or a migrated data directory. */
export interface TestDatabaseTemplate {
  kind: TestDatabaseKind;
  template: string;
}

/** A PostgreSQL server the tests may create databases on (trust auth on this project's machines). */
const serverUrl = new URL(process.env.TEST_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres');

export function testDatabaseUrl(database: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

export async function adminQuery(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: serverUrl.toString() });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** The database the suite runs on, and why when it had to fall back to the embedded one. */
export async function chooseTestDatabase(): Promise<{ kind: TestDatabaseKind; reason?: string }> {
  const chosen = process.env.TEST_DATABASE;
  if (chosen === 'postgres' || chosen === 'embedded') return { kind: chosen };
  if (chosen) throw new Error(`TEST_DATABASE must be postgres or embedded, not ${chosen}`);
  const client = new pg.Client({ connectionString: serverUrl.toString(), connectionTimeoutMillis: 3000 });
  try {
    await client.connect();
    return { kind: 'postgres' };
  } catch (error) {
    // A server named explicitly must be there; the default one is only used when present.
    if (process.env.TEST_DATABASE_URL) throw error;
    return { kind: 'embedded', reason: `no PostgreSQL at ${serverUrl.host} (${(error as Error).message})` };
  } finally {
    await client.end().catch(() => {});
  }
}

/** Applies every committed migration with the Prisma CLI, exactly as `npm start` does. */
export async function migrate(databaseUrl: string): Promise<void> {
  // Asynchronous: the embedded database answers from this very process.
  await promisify(execFile)('npx', ['prisma', 'migrate', 'deploy'], {
    env: { ...process.env, DATABASE_URL: databaseUrl },
  });
}

const embeddedDataDir = () => mkdtemp(join(tmpdir(), 'cs-embedded-'));

/** Creates the run's migrated template: a database on the server, or an embedded data directory. */
export async function createTemplate(kind: TestDatabaseKind): Promise<{ template: string; drop: () => Promise<void> }> {
  if (kind === 'postgres') {
    const template = `cs_template_${randomBytes(4).toString('hex')}`;
    await adminQuery(`CREATE DATABASE ${template}`);
    await migrate(testDatabaseUrl(template));
    return { template, drop: () => adminQuery(`DROP DATABASE IF EXISTS ${template} WITH (FORCE)`) };
  }
  const dataDir = await embeddedDataDir();
  const embedded = await startEmbeddedPostgres(dataDir);
  try {
    await migrate(embedded.url);
  } finally {
    await embedded.stop();
  }
  return { template: dataDir, drop: () => rm(dataDir, { recursive: true, force: true }) };
}

/**
 * A fresh copy of the run's migrated template for one test file, as the environment that
 * points the service at it: DATABASE_URL for a server, DATA_DIR for the embedded database.
 */
export async function copyTemplateDatabase({
  kind,
  template,
}: TestDatabaseTemplate): Promise<{ env: Record<string, string>; drop: () => Promise<void> }> {
  if (kind === 'postgres') {
    const name = `cs_test_${randomBytes(6).toString('hex')}`;
    await adminQuery(`CREATE DATABASE ${name} TEMPLATE ${template}`);
    return {
      env: { DATABASE_URL: testDatabaseUrl(name) },
      drop: () => adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
    };
  }
  const dataDir = await embeddedDataDir();
  await cp(template, dataDir, { recursive: true });
  return { env: { DATA_DIR: dataDir }, drop: () => rm(dataDir, { recursive: true, force: true }) };
}

/** A fresh, empty database with nothing applied, of the run's kind. */
export async function emptyDatabase(kind: TestDatabaseKind): Promise<{ url: string; drop: () => Promise<void> }> {
  if (kind === 'postgres') {
    const name = `cs_test_${randomBytes(6).toString('hex')}`;
    await adminQuery(`CREATE DATABASE ${name}`);
    return { url: testDatabaseUrl(name), drop: () => adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`) };
  }
  const dataDir = await embeddedDataDir();
  const embedded = await startEmbeddedPostgres(dataDir);
  return {
    url: embedded.url,
    drop: async () => {
      await embedded.stop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}
