/**
 * The floor the service is measured against: the same SQL statements, from the service's own
 * store, through the same `pg` pool settings and client (statements prepared), in the thinnest
 * Fastify handlers possible. No auth, validation, service layer or schema serialization: what
 * the service costs on top of this is the cost of those layers. Lives in bench/, never in the
 * service.
 */
import Fastify from 'fastify';
import pg from 'pg';
import { createCustomerRepository } from '../src/customers/repository/index.js';
import { newCustomerId } from '../src/ids.js';
import { PreparingClient } from '../src/prepared-statements.js';
import { serveUntilSignalled } from './support.js';

// The service's pool client too: its statements run prepared here as there.
const pool = new pg.Pool({
  Client: PreparingClient,
  connectionString: process.env.DATABASE_URL,
  max: Number(process.env.DATABASE_POOL_SIZE ?? 10),
});
const store = createCustomerRepository(pool);
const app = Fastify();
const stamp = () => ({ at: new Date().toISOString(), requestId: 'v-bare' });

type Body = { source_id?: string; name?: string };
type Query = { limit?: string; city?: string; starting_after?: string };

app.get<{ Params: { key: string } }>('/v1/customers/:key', async (request) => store.get(request.params.key));

app.get<{ Querystring: Query }>('/v1/customers', async (request) => {
  const { limit, city, starting_after: startingAfter } = request.query;
  return store.list({
    filters: { city },
    order: '-created_at',
    limit: Number(limit ?? 10),
    page: startingAfter ? { kind: 'cursor', startingAfter } : { kind: 'offset', offset: 0 },
  });
});

app.post<{ Body: Body }>('/v1/customers', async (request) =>
  store.create(newCustomerId(), request.body.source_id ?? null, { name: request.body.name }, stamp()),
);

app.put<{ Params: { key: string }; Body: Body }>('/v1/customers/:key', async (request) =>
  store.update(request.params.key, { name: request.body.name }, stamp()),
);

await serveUntilSignalled(app, pool, 'bare server');
