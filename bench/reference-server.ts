/**
 * The independent reference the service is measured against: the customer routes as a
 * competent engineer writes them by hand in an afternoon, with Fastify and `pg` and the
 * simplest correct SQL, one plain (unnamed) statement per read and per write, a JSON schema on
 * bodies, and the contract's response shape. Of the service's code it takes only the constant
 * parts of the customer object (src/schemas): none of its SQL, store or service layer. It
 * checks the API key but has no rate limit, access log, metrics or security headers. Unlike the bare route
 * (bench/bare-server.ts), which runs the service's own statements, it shows what the service's
 * statements cost. Lives in bench/, never in the service.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import Fastify from 'fastify';
import pg from 'pg';
import { EMPTY_LOYALTY, EMPTY_REFERRALS, EMPTY_SUMMARY } from '../src/schemas/customer.js';
import { serveUntilSignalled } from './support.js';

const env = process.env;
const pool = new pg.Pool({ connectionString: env.DATABASE_URL, max: Number(env.DATABASE_POOL_SIZE ?? 10) });
const [appId, secret] = (env.API_KEYS ?? 'bench:bench-secret-0123456789abcdef0123456789').split(':') as [string, string];
const publicUrl = env.PUBLIC_URL ?? 'http://localhost:3000';
const cockpitSecret = env.COCKPIT_SECRET ?? 'bench-cockpit-secret';

const TEXT_FIELDS = ['name', 'email', 'phone', 'description'] as const;
const SELECT = `SELECT id, source_id, name, email, phone, description, birthdate::text AS birthdate, address, metadata,
  created_at, updated_at FROM customers`;

interface Row {
  id: string;
  source_id: string | null;
  name: string | null;
  email: string | null;
  phone: string | null;
  description: string | null;
  birthdate: string | null;
  address: Record<string, string> | null;
  metadata: Record<string, unknown>;
  created_at: Date;
  updated_at: Date | null;
}

function toCustomer(row: Row) {
  const token = createHmac('sha256', cockpitSecret).update(row.id).digest('base64url');
  const customer: Record<string, unknown> = {
    id: row.id,
    address: row.address,
    summary: EMPTY_SUMMARY,
    loyalty: EMPTY_LOYALTY,
    referrals: EMPTY_REFERRALS,
    metadata: row.metadata,
    system_metadata: {},
    created_at: row.created_at.toISOString(),
    assets: { cockpit_url: `${publicUrl}/cockpit/${row.id}?token=${token}` },
    object: 'customer',
  };
  if (row.source_id !== null) customer.source_id = row.source_id;
  for (const field of [...TEXT_FIELDS, 'birthdate'] as const) if (row[field] !== null) customer[field] = row[field];
  if (row.updated_at !== null) customer.updated_at = row.updated_at.toISOString();
  return customer;
}

const notFound = (key: string) => ({
  code: 404,
  key: 'not_found',
  message: 'Resource not found',
  details: `Cannot find customer with id ${key}`,
});
const eventId = () => `evcus_${randomBytes(9).toString('hex')}`;
const requestId = () => `v-${randomBytes(9).toString('hex')}`;
const customerId = () => `cust_${randomBytes(18).toString('base64url').replace(/[-_]/g, 'x').slice(0, 24)}`;

type Body = Partial<Record<(typeof TEXT_FIELDS)[number] | 'source_id', string | null>> & { metadata?: Record<string, unknown> };
const bodySchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    source_id: { type: ['string', 'null'], maxLength: 255 },
    ...Object.fromEntries(TEXT_FIELDS.map((field) => [field, { type: ['string', 'null'], maxLength: 255 }])),
    metadata: { type: 'object' },
  },
};

/** The sent fields as `column = $n` assignments, values appended to `values`. */
function assignments(body: Body, values: unknown[]): string[] {
  const sent = TEXT_FIELDS.filter((field) => body[field] !== undefined);
  const set = sent.map((field) => `${field} = $${values.push(body[field])}`);
  if (body.metadata !== undefined) set.push(`metadata = $${values.push(JSON.stringify(body.metadata))}::jsonb`);
  return set;
}

/** The activity event of a write: the CTE `changed` holds the written row. */
const logEvent = (type: string, values: unknown[]) =>
  `logged AS (INSERT INTO customer_events (id, customer_id, type, data, group_id, created_at)
     SELECT $${values.push(eventId())}, id, ${type}, jsonb_build_object('customer', to_jsonb(changed)), $${values.push(requestId())},
            coalesce(updated_at, created_at) FROM changed)`;

const app = Fastify();

app.addHook('onRequest', async (request, reply) => {
  const token = Buffer.from(String(request.headers['x-app-token'] ?? ''));
  const ok =
    request.headers['x-app-id'] === appId && token.length === secret.length && timingSafeEqual(token, Buffer.from(secret));
  if (!ok) return reply.code(401).send({ code: 401, key: 'unauthorized', message: 'Unauthorized' });
});

app.get<{ Params: { key: string } }>('/v1/customers/:key', async (request, reply) => {
  const { rows } = await pool.query<Row>(`${SELECT} WHERE (id = $1 OR source_id = $1) AND live ORDER BY id = $1 DESC LIMIT 1`, [
    request.params.key,
  ]);
  return rows[0] ? toCustomer(rows[0]) : reply.code(404).send(notFound(request.params.key));
});

app.get<{ Querystring: { limit?: number; city?: string; starting_after?: string } }>(
  '/v1/customers',
  {
    schema: {
      querystring: {
        type: 'object',
        properties: {
          limit: { type: 'integer', minimum: 1, maximum: 100 },
          city: { type: 'string' },
          starting_after: { type: 'string', format: 'date-time' },
        },
      },
    },
  },
  async (request) => {
    const { limit = 10, city, starting_after: startingAfter } = request.query;
    const values: unknown[] = [];
    const where = ['live'];
    if (city !== undefined) where.push(`address ->> 'city' = $${values.push(city)}`);
    const total = await pool.query<{ total: number }>(
      `SELECT count(*)::int AS total FROM customers WHERE ${where.join(' AND ')}`,
      [...values],
    );
    if (startingAfter !== undefined) where.push(`created_at < $${values.push(startingAfter)}`);
    const page = await pool.query<Row>(
      `${SELECT} WHERE ${where.join(' AND ')} ORDER BY created_at DESC, id DESC LIMIT $${values.push(limit + 1)}`,
      values,
    );
    return {
      object: 'list',
      data_ref: 'customers',
      customers: page.rows.slice(0, limit).map(toCustomer),
      total: total.rows[0]!.total,
      has_more: page.rows.length > limit,
    };
  },
);

app.post<{ Body: Body }>('/v1/customers', { schema: { body: bodySchema } }, async (request) => {
  const body = request.body;
  const values: unknown[] = [customerId(), body.source_id ?? null];
  const set = assignments(body, values);
  const columns = set.map((assignment) => assignment.split(' = ')[0]);
  const placeholders = set.map((assignment) => assignment.split(' = ')[1]);
  const { rows } = await pool.query<Row>(
    `WITH changed AS (
       INSERT INTO customers (id, source_id, created_at${columns.map((column) => `, ${column}`).join('')})
       VALUES ($1, $2, now()${placeholders.map((placeholder) => `, ${placeholder}`).join('')})
       ON CONFLICT (source_id) WHERE live
       DO UPDATE SET ${[...columns.map((column) => `${column} = EXCLUDED.${column}`), 'updated_at = now()'].join(', ')}
       RETURNING *
     ), ${logEvent("CASE WHEN updated_at IS NULL THEN 'customer.created' ELSE 'customer.updated' END", values)}
     ${SELECT.replace('FROM customers', 'FROM changed')}`,
    values,
  );
  return toCustomer(rows[0]!);
});

app.put<{ Params: { key: string }; Body: Body }>(
  '/v1/customers/:key',
  { schema: { body: bodySchema } },
  async (request, reply) => {
    const values: unknown[] = [request.params.key];
    const set = [...assignments(request.body, values), 'updated_at = now()'];
    const { rows } = await pool.query<Row>(
      `WITH changed AS (
       UPDATE customers SET ${set.join(', ')} WHERE (id = $1 OR source_id = $1) AND live RETURNING *
     ), ${logEvent("'customer.updated'", values)}
     ${SELECT.replace('FROM customers', 'FROM changed')}`,
      values,
    );
    return rows[0] ? toCustomer(rows[0]) : reply.code(404).send(notFound(request.params.key));
  },
);

await serveUntilSignalled(app, pool, 'reference server');
