/**
 * `npm run bench:routes` (part of `npm run bench`): the service against its floor, on real PostgreSQL over loopback.
 *
 * For each route it runs wrk against the built service (node dist/server.js), against the
 * independent reference (bench/reference-server.ts: the routes hand-written with the simplest
 * correct SQL) and against the bare server (bench/bare-server.ts: the service's own statements,
 * no service layers), rotating their order, and pgbench -M prepared with the statements the
 * route issues, which is PostgreSQL's own ceiling. Every route runs at 10,000 and at 1,000,000
 * customers; the list routes also on 2,000 customers PostgreSQL has never measured, as a table is
 * right after many creates (no ANALYZE, autovacuum off for it). Medians of the rounds and their
 * ratios are reported; this machine is shared and noisy, so no single figure is a verdict.
 *
 * Settings (environment): BENCH_DATABASE_URL (a server the role may create databases on),
 * BENCH_DURATION seconds per run (10), BENCH_ROUNDS (3), BENCH_CONNECTIONS (16),
 * BENCH_ROWS for the large data set (1000000), BENCH_ONLY=scenario,scenario to run a subset.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import { createCustomerRepository } from '../src/customers/repository/index.js';
import { median, prepareDatabase, residentBytes, SERVICE_COMMAND, startServer, wrk, type WrkResult } from './support.js';

const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));
const env = process.env;
const DURATION = Number(env.BENCH_DURATION ?? 10);
const ROUNDS = Number(env.BENCH_ROUNDS ?? 3);
const CONNECTIONS = Number(env.BENCH_CONNECTIONS ?? 16);
const LARGE = Number(env.BENCH_ROWS ?? 1_000_000);
const SMALL = 10_000;
/** Customers of the data set PostgreSQL has never measured, as right after that many creates. */
const FRESH = 2_000;
const ONLY = env.BENCH_ONLY?.split(',');
const AUTH = { appId: 'bench', secret: 'bench-secret-0123456789abcdef0123456789' };

const log = (message: string) => console.error(`[bench] ${message}`);

/** How wrk runs every scenario, with the scenario's environment. */
const wrkSettings = (extraEnv: Record<string, string>) => ({
  connections: CONNECTIONS,
  durationSeconds: DURATION,
  auth: AUTH,
  extraEnv,
});

// ---------------------------------------------------------------- data

/** Undoes the write scenarios (the seed writes no events), so that a reused data set stays as seeded. */
async function removeBenchWrites(url: string) {
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  // Webhook messages reference events: none are queued here, and they go with them.
  await db.query('TRUNCATE customer_events CASCADE');
  await db.query(`DELETE FROM customers WHERE source_id LIKE 'bench-new-%'`);
  await db.query(
    `UPDATE customers SET name = 'Customer ' || substr(id, 6)::bigint, updated_at = NULL WHERE updated_at IS NOT NULL`,
  );
  await db.query('VACUUM ANALYZE customers');
  await db.end();
}

// ---------------------------------------------------------------- scenarios

interface Scenario {
  name: string;
  description: string;
  /** wrk Lua: builds each request. ROWS and CURSOR come from the environment. */
  lua: string;
  /** A sample call of the store doing what the route does, to record its statements for pgbench. */
  sample(store: ReturnType<typeof createCustomerRepository>, cursor: string): Promise<unknown>;
  /** pgbench lines before the statements, and how to turn recorded parameters into expressions. */
  pgbench: { setup: string; parameter(index: number, value: unknown): string | undefined };
  writes?: boolean;
}

const randomCustomer = `math.randomseed(os.time())
local rows = tonumber(os.getenv("ROWS"))
local function customer() return string.format("cust_%024d", math.random(1, rows)) end`;
const pgRandom = (rows: number) => `\\set n random(1, ${rows})`;
const pgCustomerId = `('cust_' || lpad(CAST(:n AS text), 24, '0'))`;
const stamp = { at: new Date().toISOString(), requestId: 'v-pgbench' };
const pgEventId = `('evcus_' || substr(md5(random()::text), 1, 18))`;

/**
 * A single write's parameter, its one-row batch (a JSON array), as a pgbench expression that
 * makes the `random` fields random on every run; other parameters answer undefined.
 */
function pgBatch(value: unknown, random: Record<string, string>): string | undefined {
  if (typeof value !== 'string' || !value.startsWith('[{')) return undefined;
  const [item] = JSON.parse(value) as Array<Record<string, unknown>>;
  const pairs = Object.entries(item!).flatMap(([key, field]) => [
    `'${key}'`,
    random[key] ?? `'${JSON.stringify(field).replace(/'/g, "''")}'::jsonb`,
  ]);
  return `jsonb_build_array(jsonb_build_object(${pairs.join(', ')}))::text`;
}

function scenarios(rows: number): Scenario[] {
  return [
    {
      name: 'get-by-id',
      description: 'GET /v1/customers/{id}',
      lua: `${randomCustomer}\nrequest = function() return wrk.format(nil, "/v1/customers/" .. customer()) end`,
      sample: (store) => store.get('cust_000000000000000000000001'),
      pgbench: { setup: pgRandom(rows), parameter: (index) => (index === 1 ? pgCustomerId : undefined) },
    },
    {
      name: 'get-by-source-id',
      description: 'GET /v1/customers/{source_id}',
      lua: `local rows = tonumber(os.getenv("ROWS"))\nrequest = function() return wrk.format(nil, "/v1/customers/src-" .. math.random(1, rows)) end`,
      sample: (store) => store.get('src-1'),
      pgbench: { setup: pgRandom(rows), parameter: (index) => (index === 1 ? `('src-' || CAST(:n AS text))` : undefined) },
    },
    {
      name: 'list-first-page',
      description: 'GET /v1/customers?limit=10',
      lua: `request = function() return wrk.format(nil, "/v1/customers?limit=10") end`,
      sample: (store) => store.list({ filters: {}, order: '-created_at', limit: 10, page: { kind: 'offset', offset: 0 } }),
      pgbench: { setup: '', parameter: () => undefined },
    },
    {
      name: 'list-filtered',
      description: 'GET /v1/customers?city=…&limit=10 (one city of 1,000)',
      lua: `request = function() return wrk.format(nil, "/v1/customers?limit=10&city=City%20" .. math.random(0, 999)) end`,
      sample: (store) =>
        store.list({ filters: { city: 'City 7' }, order: '-created_at', limit: 10, page: { kind: 'offset', offset: 0 } }),
      pgbench: {
        setup: '\\set c random(0, 999)',
        parameter: (_index, value) => (value === 'City 7' ? `('City ' || CAST(:c AS text))` : undefined),
      },
    },
    {
      name: 'list-deep-cursor',
      description: 'GET /v1/customers?starting_after=… (10,000 rows deep)',
      lua: `request = function() return wrk.format(nil, "/v1/customers?limit=10&starting_after=" .. os.getenv("CURSOR")) end`,
      sample: (store, cursor) =>
        store.list({ filters: {}, order: '-created_at', limit: 10, page: { kind: 'cursor', startingAfter: cursor } }),
      pgbench: { setup: '', parameter: () => undefined },
    },
    {
      name: 'put-update',
      description: 'PUT /v1/customers/{id} {name}',
      lua: `${randomCustomer}
wrk.method = "PUT"
wrk.headers["Content-Type"] = "application/json"
request = function() return wrk.format(nil, "/v1/customers/" .. customer(), nil, '{"name":"Renamed ' .. math.random(1, 1000000) .. '"}') end`,
      sample: (store) => store.update('cust_000000000000000000000001', { name: 'Renamed 1' }, stamp),
      pgbench: {
        setup: pgRandom(rows),
        parameter: (_index, value) =>
          value === stamp.at ? 'now()' : pgBatch(value, { key: `to_jsonb${pgCustomerId}`, event_id: `to_jsonb${pgEventId}` }),
      },
      writes: true,
    },
    {
      name: 'post-create',
      description: 'POST /v1/customers {source_id, name}',
      lua: `math.randomseed(os.time())
local counter = 0
local thread = os.time() .. "-" .. math.random(1, 1000000000)
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  counter = counter + 1
  return wrk.format(nil, "/v1/customers", nil, '{"source_id":"bench-new-' .. thread .. '-' .. counter .. '","name":"New"}')
end`,
      sample: (store) => store.create('cust_sample000000000000000000', 'bench-new-sample', { name: 'New' }, stamp),
      pgbench: {
        setup: '\\set n random(1, 1000000000000)',
        parameter: (_index, value) =>
          value === stamp.at
            ? 'now()'
            : pgBatch(value, {
                id: `to_jsonb('cust_' || substr(md5(random()::text), 1, 24))`,
                source_id: `to_jsonb('bench-new-pg-' || CAST(:n AS text) || '-' || CAST(:client_id AS text))`,
                event_id: `to_jsonb${pgEventId}`,
              }),
      },
      writes: true,
    },
  ];
}

/** The route's statements as a pgbench script: recorded from the real store, parameters made random. */
async function pgbenchScript(url: string, scenario: Scenario, cursor: string, directory: string): Promise<string> {
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  const statements: Array<{ text: string; values: unknown[] }> = [];
  const recording = Object.create(pool) as pg.Pool;
  recording.query = ((text: string, values: unknown[]) => {
    statements.push({ text, values });
    return pool.query(text, values);
  }) as pg.Pool['query'];
  await scenario.sample(createCustomerRepository(recording), cursor);
  await pool.end();
  const literal = (value: unknown) => (value === null ? 'NULL' : `'${String(value).replace(/'/g, "''")}'`);
  const sql = statements.map(({ text, values }) =>
    text
      .replace(/\$(\d+)/g, (_match, digits: string) => {
        const index = Number(digits);
        return scenario.pgbench.parameter(index, values[index - 1]) ?? literal(values[index - 1]);
      })
      .replace(/\s+/g, ' ')
      // pgbench -M prepared takes every `:word` for a variable, even inside a string literal.
      .replace(/'(?:[^']|'')*'/g, (quoted) =>
        quoted.includes(':') ? `(${quoted.split(':').join("' || chr(58) || '")})` : quoted,
      ),
  );
  const file = join(directory, `${scenario.name}.sql`);
  await writeFile(file, `${scenario.pgbench.setup}\n${sql.map((line) => `${line};`).join('\n')}\n`);
  return file;
}

// ---------------------------------------------------------------- processes

/** Highest resident memory of a process while `work` runs, in MiB. */
async function peakMemory<T>(pid: number, work: Promise<T>): Promise<{ result: T; peakMiB: number }> {
  let peak = 0;
  const sample = async () => {
    peak = Math.max(peak, (await residentBytes(pid)) / 1024 / 1024);
  };
  const timer = setInterval(sample, 250);
  const result = await work;
  clearInterval(timer);
  await sample();
  return { result, peakMiB: peak };
}

async function pgbench(url: string, script: string): Promise<number> {
  const { stdout } = await run('pgbench', [
    '-n',
    '-M',
    'prepared',
    `-c${CONNECTIONS}`,
    '-j1',
    `-T${DURATION}`,
    '-f',
    script,
    url,
  ]);
  return Number(/tps = ([\d.]+)/.exec(stdout)?.[1]);
}

// ---------------------------------------------------------------- the run

interface Measured {
  scenario: Scenario;
  service: WrkResult[];
  reference: WrkResult[];
  bare: WrkResult[];
  postgres: number[];
  peakMiB: number;
}

async function measure(url: string, rows: number, names: string[], withPgbench: boolean): Promise<Measured[]> {
  const directory = await mkdtemp(join(tmpdir(), 'cs-bench-'));
  const db = new pg.Client({ connectionString: url });
  await db.connect();
  const cursor = (
    await db.query<{ at: string }>(
      `SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS at FROM customers
       WHERE live ORDER BY created_at DESC LIMIT 1 OFFSET $1`,
      // 10,000 rows deep, or as deep as a smaller data set allows.
      [Math.min(10_000, rows - 20)],
    )
  ).rows[0]!.at;
  await db.end();
  const wrkEnv = { ROWS: String(rows), CURSOR: cursor };

  const service = await startServer(SERVICE_COMMAND, url, AUTH);
  const reference = await startServer(['--import', 'tsx', 'bench/reference-server.ts'], url, AUTH);
  const bare = await startServer(['--import', 'tsx', 'bench/bare-server.ts'], url, AUTH);
  const results: Measured[] = [];
  try {
    for (const scenario of scenarios(rows).filter((candidate) => names.includes(candidate.name))) {
      const luaFile = join(directory, `${scenario.name}.lua`);
      await writeFile(luaFile, scenario.lua);
      const script = withPgbench ? await pgbenchScript(url, scenario, cursor, directory) : undefined;
      const measured: Measured = { scenario, service: [], reference: [], bare: [], postgres: [], peakMiB: 0 };
      const contestants = ['service', 'reference', 'bare'] as const;
      for (let round = 0; round < ROUNDS; round += 1) {
        // Rotate which goes first, so none always meets a warmer or cooler machine.
        const order = contestants.map((_, index) => contestants[(index + round) % contestants.length]!);
        for (const which of order) {
          if (which === 'service') {
            const { result, peakMiB } = await peakMemory(service.child.pid!, wrk(service.base, luaFile, wrkSettings(wrkEnv)));
            measured.service.push(result);
            measured.peakMiB = Math.max(measured.peakMiB, peakMiB);
          } else {
            measured[which].push(await wrk((which === 'reference' ? reference : bare).base, luaFile, wrkSettings(wrkEnv)));
          }
        }
        if (script) measured.postgres.push(await pgbench(url, script));
        log(
          `${rows} rows, ${scenario.name}, round ${round + 1}: service ${measured.service.at(-1)!.rps} req/s, ` +
            `reference ${measured.reference.at(-1)!.rps} req/s, bare ${measured.bare.at(-1)!.rps} req/s`,
        );
      }
      results.push(measured);
      if (scenario.writes) await removeBenchWrites(url);
    }
  } finally {
    service.child.kill('SIGTERM');
    reference.child.kill('SIGTERM');
    bare.child.kill('SIGTERM');
  }
  return results;
}

const fixed = (value: number, digits = 0) => (Number.isFinite(value) ? value.toFixed(digits) : 'n/a');

/** One data set's measurements. */
interface DataSet {
  label: string;
  measured: Measured[];
}

function ratioTable({ label, measured }: DataSet): string[] {
  const lines = [
    `### ${label}`,
    '',
    '| route | service req/s | reference req/s | service / reference (≥ 0.80) | service p50 / p99 ms | reference p50 / p99 ms | p99 ratio (≤ 1.50) | bare req/s | service / bare | PostgreSQL tx/s (pgbench) | errors |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const { scenario, service, reference, bare, postgres } of measured) {
    const rps = median(service.map((result) => result.rps));
    const referenceRps = median(reference.map((result) => result.rps));
    const bareRps = median(bare.map((result) => result.rps));
    const p99 = median(service.map((result) => result.p99));
    const referenceP99 = median(reference.map((result) => result.p99));
    const errors = [...service, ...reference, ...bare].reduce((sum, r) => sum + r.errors, 0);
    lines.push(
      `| ${scenario.description} | ${fixed(rps)} | ${fixed(referenceRps)} | ${fixed(rps / referenceRps, 2)} | ${fixed(median(service.map((r) => r.p50)), 2)} / ${fixed(p99, 2)} | ${fixed(median(reference.map((r) => r.p50)), 2)} / ${fixed(referenceP99, 2)} | ${fixed(p99 / referenceP99, 2)} | ${fixed(bareRps)} | ${fixed(rps / bareRps, 2)} | ${postgres.length ? fixed(median(postgres)) : 'n/a'} | ${errors} |`,
    );
  }
  lines.push(
    '',
    `Service peak memory (RSS) under load: ${fixed(Math.max(...measured.map((m) => m.peakMiB)))} MiB (target < 200 MiB).`,
    '',
  );
  return lines;
}

function report(small: DataSet, large: DataSet, fresh: DataSet): string {
  const lines = [
    `## Benchmark results`,
    '',
    `${new Date().toISOString()} · wrk -t1 -c${CONNECTIONS} -d${DURATION}s · medians of ${ROUNDS} alternated rounds · load generator, Node and PostgreSQL share this machine's cores`,
    '',
    "The reference is bench/reference-server.ts (hand-written, simplest correct SQL); the bare route runs the service's own statements without its layers; pgbench -M prepared runs those statements alone.",
    '',
    ...ratioTable(small),
    ...ratioTable(large),
    ...ratioTable(fresh),
    `| list route | p50 ms at ${SMALL.toLocaleString('en')} | p50 ms at ${LARGE.toLocaleString('en')} | ratio (≤ 2.0) | req/s at ${SMALL.toLocaleString('en')} | req/s at ${LARGE.toLocaleString('en')} |`,
    '|---|---|---|---|---|---|',
  ];
  for (const measuredSmall of small.measured.filter((m) => m.scenario.name.startsWith('list-'))) {
    const measuredLarge = large.measured.find((m) => m.scenario.name === measuredSmall.scenario.name);
    if (!measuredLarge) continue;
    const p50Small = median(measuredSmall.service.map((r) => r.p50));
    const p50Large = median(measuredLarge.service.map((r) => r.p50));
    lines.push(
      `| ${measuredSmall.scenario.description} | ${fixed(p50Small, 2)} | ${fixed(p50Large, 2)} | ${fixed(p50Large / p50Small, 2)} | ${fixed(median(measuredSmall.service.map((r) => r.rps)))} | ${fixed(median(measuredLarge.service.map((r) => r.rps)))} |`,
    );
  }
  return lines.join('\n');
}

for (const tool of ['wrk', 'pgbench', 'psql'] as const) {
  await run('which', [tool]).catch(() => {
    throw new Error(
      `${tool} is needed: apt-get install -y ${{ wrk: 'wrk', pgbench: 'postgresql (Debian ships pgbench with the server)', psql: 'postgresql-client' }[tool]}`,
    );
  });
}
const all = scenarios(LARGE).map((scenario) => scenario.name);
const names = ONLY ?? all;
const reads = names.filter((name) => name.startsWith('list-'));
const smallUrl = await prepareDatabase(SMALL);
const largeUrl = await prepareDatabase(LARGE);
const freshUrl = await prepareDatabase(FRESH, { fresh: true });
const small = { label: `${SMALL.toLocaleString('en')} customers`, measured: await measure(smallUrl, SMALL, names, true) };
const large = { label: `${LARGE.toLocaleString('en')} customers`, measured: await measure(largeUrl, LARGE, names, true) };
const fresh = {
  label: `${FRESH.toLocaleString('en')} customers, right after they were written (the table never analyzed)`,
  measured: await measure(freshUrl, FRESH, reads, false),
};
const text = report(small, large, fresh);
await mkdir(join(root, 'bench/results'), { recursive: true });
await writeFile(join(root, 'bench/results/latest.md'), `${text}\n`);
console.log(text);
