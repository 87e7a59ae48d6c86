import { describe, expect, it } from 'vitest';
import { useTestApp } from './support/app.js';
import { unique } from './support/customers.js';

// One connection, so that every statement the routes run goes through the one the test watches.
const test = useTestApp({ DATABASE_POOL_SIZE: '1', WORKER_ENABLED: 'false' });

interface WatchedConnection {
  parse(query: { name?: string; text: string }, ...rest: unknown[]): void;
}

/** Records the text of every statement PostgreSQL is asked to parse on the pool's connection. */
async function watchParses(): Promise<string[]> {
  const parsed: string[] = [];
  const client = await test.app.db.connect();
  const { connection } = client as unknown as { connection: WatchedConnection };
  const parse = connection.parse.bind(connection);
  connection.parse = (query, ...rest) => {
    parsed.push(query.text);
    parse(query, ...rest);
  };
  client.release();
  return parsed;
}

/** Every route that reads or writes customers, async actions and activity, once each. */
async function callEveryRoute() {
  const sourceId = unique('prepared');
  const created = (
    await test.api.post('/v1/customers', { source_id: sourceId, name: 'P', address: { city: 'Prepared' } }).expect(200)
  ).body;
  await test.api.post('/v1/customers', { source_id: sourceId, email: 'p@example.com' }).expect(200);
  await test.api.get(`/v1/customers/${created.id}`).expect(200);
  await test.api.get(`/v1/customers/${sourceId}`).expect(200);
  await test.api.put(`/v1/customers/${created.id}`, { name: 'Q' }).expect(200);
  await test.api.get('/v1/customers?limit=10').expect(200);
  await test.api.get('/v1/customers?limit=10&city=Prepared').expect(200);
  await test.api.get(`/v1/customers?limit=10&starting_after=${encodeURIComponent(created.created_at)}`).expect(200);
  await test.api.get('/v1/customers?limit=10&order=-updated_at&page=2').expect(200);
  await test.api.get(`/v1/customers/${created.id}/activity?limit=5`).expect(200);
  await test.api.get(`/v1/customers/${created.id}/activities?limit=5`).expect(200);
  const accepted = (await test.api.post('/v1/customers/bulk/async', [{ source_id: sourceId }]).expect(202)).body;
  await test.api.get(`/v1/async-actions/${accepted.async_action_id}`).expect(200);
  await test.api.get('/v1/async-actions?limit=5').expect(200);
  await test.api.delete(`/v1/customers/${created.id}`).expect(204);
  const other = (await test.api.post('/v1/customers', { source_id: unique('prepared') }).expect(200)).body;
  await test.api.post(`/v1/customers/${other.id}/permanent-deletion`).expect(200);
}

describe('statements of the routes', () => {
  it('are prepared once per connection: the second round of every route has PostgreSQL parse nothing', async () => {
    const parsed = await watchParses();
    await callEveryRoute();
    expect(parsed.length).toBeGreaterThan(10);
    parsed.length = 0;
    await callEveryRoute();
    expect(parsed).toEqual([]);
  });

  it('are prepared again on a new connection, also on the embedded database, whose one session outlives connections', async () => {
    await callEveryRoute();
    // Closes the pool's only connection: the next request opens another.
    const client = await test.app.db.connect();
    client.release(true);
    await callEveryRoute();
  });
});
