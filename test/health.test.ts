import { readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import supertest from 'supertest';
import { buildApp, type App } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { APP_ID, APP_SECRET, databaseKind, sdkHeaders, useTestApp } from './support/app.js';
import { errorBody } from './support/customers.js';
import { emptyDatabase } from './support/database.js';
import { expectReferenceSchema } from './support/reference.js';

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
