import { afterAll, beforeAll, inject } from 'vitest';
import pg from 'pg';
import supertest from 'supertest';
import type { Writable } from 'node:stream';
import { buildApp, type App } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { loggerOptions } from '../../src/logger.js';
import { copyTemplateDatabase, type TestDatabaseKind } from './database.js';
import { PATIENT_DATABASE_BOUNDS } from './wait.js';

export const APP_ID = 'test-app';
export const APP_SECRET = 'test-secret-5f1c0b7e';
export const PUBLIC_URL = 'https://customers.example.test';
export const COCKPIT_SECRET = 'test-cockpit-secret-7d41c2a9e0b35f68';

/** The kind of database this run uses (see test/support/database.ts). */
export const databaseKind = (): TestDatabaseKind => inject('testDatabase').kind;

/** The headers the official SDK sends with every request, bodiless ones included. */
export const sdkHeaders = {
  'X-App-Id': APP_ID,
  'X-App-Token': APP_SECRET,
  'X-Voucherify-Channel': 'Node.js-SDK-v2.9.0',
  'Content-Type': 'application/json',
};

export interface TestApp {
  app: App;
  /** Where the app's pool connects, for tests that look at the database directly. */
  databaseUrl: string;
  /** supertest against the app, with the SDK's headers already set. */
  api: {
    get(path: string): supertest.Test;
    post(path: string, body?: unknown): supertest.Test;
    put(path: string, body?: unknown): supertest.Test;
    delete(path: string): supertest.Test;
  };
  /** supertest without any headers. */
  raw: () => ReturnType<typeof supertest>;
  /** A pool on the app's database, for tests that look at it directly (opened on first use; the app's own pool on the embedded database). */
  readonly db: pg.Pool;
}

/**
 * Builds the production app (same buildApp, same config loader) on a fresh copy of the
 * migrated test database (a server's or the embedded one), for the test file that calls it.
 */
export function useTestApp(env: Record<string, string> = {}, { logStream }: { logStream?: Writable } = {}): TestApp {
  let drop: (() => Promise<void>) | undefined;
  let pool: pg.Pool | undefined;
  const agent = () => supertest(context.app.server);
  const send = (test: supertest.Test, body: unknown) => (body === undefined ? test : test.send(body as object));
  // Handed out before the app exists: every member resolves the app when called.
  const context: TestApp = {
    app: undefined as unknown as App,
    databaseUrl: '',
    raw: agent,
    api: {
      get: (path) => agent().get(path).set(sdkHeaders),
      post: (path, body) => send(agent().post(path).set(sdkHeaders), body),
      put: (path, body) => send(agent().put(path).set(sdkHeaders), body),
      delete: (path) => agent().delete(path).set(sdkHeaders),
    },
    get db() {
      // The embedded database is one PostgreSQL session whose socket server interleaves the
      // protocol messages of its connections outside transactions: a second connection's
      // parameterized query could meet the app's between its parse and its bind. Tests share
      // the app's own connection there, as the service's one-connection pool does.
      if (databaseKind() === 'embedded') return context.app.db;
      if (!pool) {
        pool = new pg.Pool({ connectionString: context.databaseUrl });
        // An idle connection of this pool is cut when the file's database is dropped at the end
        // (or a test stops the server): not a failure of any test, and no reason to crash the run.
        pool.on('error', () => undefined);
      }
      return pool;
    },
  };

  beforeAll(async () => {
    const database = await copyTemplateDatabase(inject('testDatabase'));
    drop = database.drop;
    const config = loadConfig({
      ...database.env,
      API_KEYS: `${APP_ID}:${APP_SECRET}`,
      PUBLIC_URL,
      COCKPIT_SECRET,
      ...PATIENT_DATABASE_BOUNDS,
      ...env,
    });
    // The production logger writing to the stream given, or no logging at all.
    context.app = await buildApp({ config, logger: logStream ? { ...loggerOptions(config), stream: logStream } : false });
    await context.app.ready();
    context.databaseUrl = context.app.databaseUrl;
  });

  afterAll(async () => {
    await pool?.end();
    await context.app?.close();
    await drop?.();
  });

  return context;
}
