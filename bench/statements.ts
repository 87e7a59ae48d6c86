/**
 * `npm run bench:statements`: what one customer lookup costs through each way of running it,
 * on the same data and the same PostgreSQL, 8 concurrent callers in one Node process. This is
 * the measurement behind the README's "Prisma's role" table: queries per second, and Node's CPU
 * time per query (user + system, from process.cpuUsage). Rounds alternate the ways, so each sees
 * the same machine; medians are reported.
 *
 * Settings (environment): BENCH_DATABASE_URL (a server the role may create databases on),
 * BENCH_DURATION seconds per round (5), BENCH_ROUNDS (3).
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { PrismaClient } from '../src/generated/prisma/client.js';
import { PreparingClient } from '../src/prepared-statements.js';
import { databaseUrl, median, serverUrl } from './support.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const DURATION_MS = Number(process.env.BENCH_DURATION ?? 5) * 1000;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CALLERS = 8;
const CUSTOMERS = 10_000;
const DATABASE = 'cs_bench_statements';

const LOOKUP = 'SELECT id, source_id, name, email, metadata, created_at FROM customers WHERE id = $1 AND live';
const customerId = () => `cust_${String(1 + Math.floor(Math.random() * CUSTOMERS)).padStart(24, '0')}`;

async function prepareDatabase(): Promise<string> {
  const admin = new pg.Client({ connectionString: serverUrl.toString() });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${DATABASE} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${DATABASE}`);
  await admin.end();
  const url = databaseUrl(DATABASE);
  await promisify(execFile)(process.execPath, [join(root, 'node_modules/prisma/build/index.js'), 'migrate', 'deploy'], {
    cwd: root,
    env: { ...process.env, DATABASE_URL: url },
  });
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  await db.query(
    `INSERT INTO customers (id, source_id, name, email, created_at)
     SELECT 'cust_' || lpad(n::text, 24, '0'), 'src-' || n, 'Customer ' || n, 'c' || n || '@example.com', now()
     FROM generate_series(1, $1::int) AS n`,
    [CUSTOMERS],
  );
  await db.query('VACUUM ANALYZE customers');
  await db.end();
  return url;
}

/** Runs `lookup` from CALLERS callers for DURATION_MS: queries per second and Node CPU µs per query. */
async function measure(lookup: () => Promise<unknown>) {
  const cpu = process.cpuUsage();
  const started = performance.now();
  let queries = 0;
  await Promise.all(
    Array.from({ length: CALLERS }, async () => {
      while (performance.now() - started < DURATION_MS) {
        await lookup();
        queries += 1;
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const used = process.cpuUsage(cpu);
  return { perSecond: queries / seconds, cpuMicros: (used.user + used.system) / queries };
}

const url = await prepareDatabase();
const unnamedPool = new pg.Pool({ connectionString: url, max: CALLERS });
const preparedPool = new pg.Pool({ connectionString: url, max: CALLERS, Client: PreparingClient });
const prismaPool = new pg.Pool({ connectionString: url, max: CALLERS });
const prisma = new PrismaClient({ adapter: new PrismaPg(prismaPool) });

const ways: Array<[string, () => Promise<unknown>]> = [
  ['pg, named prepared statement (the service)', () => preparedPool.query(LOOKUP, [customerId()])],
  ['pg, unnamed statement', () => unnamedPool.query(LOOKUP, [customerId()])],
  ['Prisma Client findUnique by id', () => prisma.customer.findUnique({ where: { id: customerId() } })],
  ['Prisma Client $queryRaw', () => prisma.$queryRawUnsafe(LOOKUP, customerId())],
  [
    'Prisma Client findFirst, OR on id / source_id',
    () => {
      const key = customerId();
      return prisma.customer.findFirst({ where: { deletedAt: null, OR: [{ id: key }, { sourceId: key }] } });
    },
  ],
];

const results = new Map<string, Array<{ perSecond: number; cpuMicros: number }>>(ways.map(([name]) => [name, []]));
for (const [, lookup] of ways) await measure(lookup); // warm-up: connections, prepared statements, JIT
for (let round = 0; round < ROUNDS; round += 1) {
  const order = round % 2 === 0 ? ways : [...ways].reverse();
  for (const [name, lookup] of order) results.get(name)!.push(await measure(lookup));
  console.error(`[bench] round ${round + 1}/${ROUNDS} done`);
}

const baseline = median(results.get(ways[0]![0])!.map((result) => result.cpuMicros));
console.log(`\nOne customer by id, ${CALLERS} concurrent callers, medians of ${ROUNDS} rounds of ${DURATION_MS / 1000} s\n`);
console.log('| how the lookup runs | queries/s | Node CPU per query | CPU against the prepared statement |');
console.log('|---|---|---|---|');
for (const [name] of ways) {
  const perSecond = median(results.get(name)!.map((result) => result.perSecond));
  const cpuMicros = median(results.get(name)!.map((result) => result.cpuMicros));
  console.log(`| ${name} | ${Math.round(perSecond)} | ${Math.round(cpuMicros)} µs | ${(cpuMicros / baseline).toFixed(1)}× |`);
}

await prisma.$disconnect();
await Promise.all([unnamedPool.end(), preparedPool.end(), prismaPool.end()]);
const admin = new pg.Client({ connectionString: serverUrl.toString() });
await admin.connect();
await admin.query(`DROP DATABASE IF EXISTS ${DATABASE} WITH (FORCE)`);
await admin.end();
