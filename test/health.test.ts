import { readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import supertest from 'supertest';
import { buildApp, type App } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { APP_ID, APP_SECRET, databaseKind, sdkHeaders, useTestApp } from './support/app.js';
import { errorBody } from './support/customers.js';
import { emptyDatabase } from './support/database.js';
import { expectReferenceSchema } from './support/reference.js';
import { until } from './support/wait.js';

const test = useTestApp();

/** The production app on the database at `url`, without touching it first. */
async function appOn(url: string): Promise<App> {
  const app = await buildApp({ config: loadConfig({ DATABASE_URL: url, API_KEYS: `${APP_ID}:${APP_SECRET}` }), logger: false });
  await app.ready();
  return app;
}

const unavailable = (details: string) => errorBody(503, 'service_unavailable', 'Service unavailable', { details });

/** Every committed migration, in the order they apply. */
const committedMigrations = readdirSync(new URL('../prisma/migrations', import.meta.url), { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map((entry) => entry.name)
  .sort();

describe('GET /health/live', () => {
  it('answers 200 without credentials', async () => {
    const response = await test.raw().get('/health/live').expect(200);
    expect(response.body).toEqual({ status: 'ok' });
  });
});

describe('GET /health/ready', () => {
  it('answers 200 when the database answers and every migration is applied', async () => {
    const response = await test.raw().get('/health/ready').expect(200);
    expect(response.body).toEqual({ status: 'ready', database: 'ok' });
    expect(response.headers['retry-after']).toBeUndefined();
  });

  describe('on a database without the migrations', () => {
    let database: { url: string; drop: () => Promise<void> };
    let app: App;
    beforeAll(async () => {
      database = await emptyDatabase(databaseKind());
      app = await appOn(database.url);
    });
    afterAll(async () => {
      await app.close();
      await database.drop();
    });

    it('answers 503 naming the pending migrations', async () => {
      const response = await supertest(app.server).get('/health/ready').expect(503);
      expect(committedMigrations[0]).toBe('20261125000000_create_customers');
      expect(response.body).toEqual(unavailable(`Database migrations are pending: ${committedMigrations.join(', ')}`));
      expect(response.headers['retry-after']).toBe('5');
      expectReferenceSchema('Error', response.body);
    });
  });

  describe('when the database cannot be reached', () => {
    let app: App;
    beforeAll(async () => {
      // Nothing listens on port 1.
      app = await appOn('postgresql://postgres@127.0.0.1:1/none');
    });
    afterAll(() => app.close());

    it('answers 503, and the live check still 200', async () => {
      const response = await supertest(app.server).get('/health/ready').expect(503);
      expect(response.body).toEqual(unavailable('The database is unreachable'));
      expect(response.headers['retry-after']).toBe('5');
      await supertest(app.server).get('/health/live').expect(200);
    });

    it('answers /v1 requests with 503 service_unavailable, not 500', async () => {
      const response = await supertest(app.server).get('/v1/customers/cust_any').set(sdkHeaders).expect(503);
      expect(response.body).toEqual(unavailable('The database is unavailable: retry shortly'));
      expect(response.headers['retry-after']).toBe('1');
    });
  });
});

/** Marks the latest migration rolled back (or back again): a readiness check that runs sees it pending. */
async function rollBackLatestMigration(db: { query: (text: string) => Promise<unknown> }, rolledBack: boolean) {
  await db.query(
    `UPDATE _prisma_migrations SET rolled_back_at = ${rolledBack ? 'now()' : 'NULL'}
     WHERE migration_name = (SELECT max(migration_name) FROM _prisma_migrations)`,
  );
}

describe('GET /health/ready within HEALTH_READY_CACHE_MS', () => {
  // No job worker: nothing but the test's requests uses the pool.
  const cached = useTestApp({ WORKER_ENABLED: 'false', HEALTH_READY_CACHE_MS: '60000' });

  it('answers from the last check, without a query: concurrent first calls share one check', async () => {
    let checkouts = 0;
    cached.app.db.on('acquire', () => (checkouts += 1));
    const first = await Promise.all(Array.from({ length: 5 }, () => cached.raw().get('/health/ready')));
    expect(first.map((response) => response.status)).toEqual([200, 200, 200, 200, 200]);
    // One check: its two queries.
    expect(checkouts).toBe(2);

    await rollBackLatestMigration(cached.db, true);
    try {
      const before = checkouts;
      for (let call = 0; call < 20; call += 1) await cached.raw().get('/health/ready').expect(200);
      // No query ran: one would have seen the migration pending.
      expect(checkouts).toBe(before);
    } finally {
      await rollBackLatestMigration(cached.db, false);
    }
  });
});

describe('GET /health/ready after HEALTH_READY_CACHE_MS', () => {
  const brief = useTestApp({ WORKER_ENABLED: 'false', HEALTH_READY_CACHE_MS: '50' });

  it('checks again', async () => {
    await brief.raw().get('/health/ready').expect(200);
    await rollBackLatestMigration(brief.db, true);
    try {
      const status = async () => (await brief.raw().get('/health/ready')).status;
      await until(async () => (await status()) === 503, 'the readiness check to see the migration pending');
    } finally {
      await rollBackLatestMigration(brief.db, false);
    }
    await until(async () => (await brief.raw().get('/health/ready')).status === 200, 'the service to be ready again');
  });
});
