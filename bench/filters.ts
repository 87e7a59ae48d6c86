/**
 * `npm run bench:filters`: the filter language and segments on 1,000,000 customers (BENCH_ROWS),
 * each measured against the plain first page (`GET /v1/customers?limit=10`) in the same run.
 *
 * It starts the built service (node dist/server.js) on the routes benchmark's seeded data set
 * (bench/seed.sql: metadata `bucket` = n mod 100, `score` = n mod 1000), defines 100 auto-update
 * segments and a 10,000-customer static segment through the API, then times requests one after
 * another (latency, not throughput), BENCH_REQUESTS per measurement (200), BENCH_ROUNDS rounds (3)
 * rotating the measurements' order. It reports each one's median latency and its ratio to the
 * plain first page. Settings: BENCH_DATABASE_URL as for the other benchmarks.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import qs from 'qs';
import { freePort, median, prepareDatabase, SERVICE_COMMAND, untilServing } from './support.js';

const env = process.env;
const ROWS = Number(env.BENCH_ROWS ?? 1_000_000);
const REQUESTS = Number(env.BENCH_REQUESTS ?? 200);
const ROUNDS = Number(env.BENCH_ROUNDS ?? 3);
const APP = { 'X-App-Id': 'bench', 'X-App-Token': 'bench-filters-secret' };
const root = fileURLToPath(new URL('..', import.meta.url));

async function call(base: string, path: string, init: RequestInit = {}) {
  const response = await fetch(`${base}${path}`, {
    ...init,
    headers: { ...APP, 'Content-Type': 'application/json', ...init.headers },
  });
  const body = (await response.json()) as Record<string, unknown>;
  if (!response.ok) throw new Error(`${path} answered ${response.status}: ${JSON.stringify(body)}`);
  return body;
}

/** Median latency in ms of `REQUESTS` sequential requests made by `path(i)`. */
async function latency(base: string, path: (index: number) => string): Promise<number> {
  const times: number[] = [];
  for (let index = 0; index < REQUESTS; index += 1) {
    const started = performance.now();
    await call(base, path(index));
    times.push(performance.now() - started);
  }
  return median(times);
}

const filtered = (filter: Record<string, unknown>) => `/v1/customers?limit=10&${qs.stringify({ filters: filter })}`;

async function main() {
  const url = await prepareDatabase(ROWS);
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const server = spawn(process.execPath, SERVICE_COMMAND, {
    cwd: root,
    env: {
      ...env,
      DATABASE_URL: url,
      PORT: String(port),
      HOST: '127.0.0.1',
      API_KEYS: `${APP['X-App-Id']}:${APP['X-App-Token']}`,
      LOG_LEVEL: 'warn',
      RATE_LIMIT_PER_MINUTE: '1000000000',
    },
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  try {
    await untilServing(server, `${base}/health/ready`);
    // The metadata schema declares bucket and score as numbers: their values are indexed
    // (customer_metadata_values), filled from every customer when the schema is created.
    const schemas = (await call(base, '/management/v1/projects/default/metadata-schemas')) as { total: number };
    if (schemas.total === 0) {
      const started = performance.now();
      await call(base, '/management/v1/projects/default/metadata-schemas', {
        method: 'POST',
        body: JSON.stringify({
          related_object: 'customer',
          properties: {
            bucket: { type: 'number', optional: true, array: false },
            score: { type: 'number', optional: true, array: false },
          },
        }),
      });
      console.log(`metadata schema (bucket, score: number) created in ${((performance.now() - started) / 1000).toFixed(1)} s`);
    }
    // 100 auto-update segments (one per bucket), a static one of 10,000 customers.
    const existing = (await call(base, '/v1/segments?limit=100')) as { total: number };
    if (existing.total < 101) {
      for (let bucket = 0; bucket < 100; bucket += 1) {
        await call(base, '/v1/segments', {
          method: 'POST',
          body: JSON.stringify({
            name: `bucket ${bucket}`,
            type: 'auto-update',
            filter: { 'metadata.bucket': { conditions: { $is: bucket } } },
          }),
        });
      }
      const stride = Math.max(1, Math.floor(ROWS / 10_000));
      const customers = Array.from(
        { length: Math.min(10_000, ROWS) },
        (_, index) => `cust_${String(1 + index * stride).padStart(24, '0')}`,
      );
      await call(base, '/v1/segments', {
        method: 'POST',
        body: JSON.stringify({ name: 'static 10,000', type: 'static', customers }),
      });
    }
    const segments = (await call(base, '/v1/segments?limit=1')) as { data: Array<{ id: string; type: string }> };
    const staticSegment = segments.data.find((segment) => segment.type === 'static')!;
    const lastMembers = (await call(base, `/v1/customers?limit=10&order=created_at&segment_id=${staticSegment.id}&page=99`)) as {
      customers: Array<{ created_at: string }>;
    };
    const deepCursor = lastMembers.customers.at(-1)!.created_at;
    const randomCustomer = (index: number) => `cust_${String(1 + ((index * 7919) % ROWS)).padStart(24, '0')}`;

    const measurements: Array<{ name: string; path: (index: number) => string }> = [
      { name: 'plain first page (reference)', path: () => '/v1/customers?limit=10' },
      {
        name: 'metadata.bucket $is (1%) + total',
        path: (index) => filtered({ 'metadata.bucket': { conditions: { $is: index % 100 } } }),
      },
      {
        name: 'metadata.score $more_than 900 + total',
        path: () => filtered({ 'metadata.score': { conditions: { $more_than: 900 } } }),
      },
      { name: 'customer segments (100 auto-update)', path: (index) => `/v1/customers/${randomCustomer(index)}/segments` },
      {
        name: 'static segment, first page',
        path: () => `/v1/customers?limit=10&order=created_at&segment_id=${staticSegment.id}`,
      },
      {
        name: 'static segment, page after 990 rows (cursor)',
        path: () => `/v1/customers?limit=10&order=created_at&segment_id=${staticSegment.id}&starting_after=${deepCursor}`,
      },
    ];
    const results = new Map(measurements.map(({ name }) => [name, [] as number[]]));
    for (let round = 0; round < ROUNDS; round += 1) {
      for (let offset = 0; offset < measurements.length; offset += 1) {
        const { name, path } = measurements[(round + offset) % measurements.length]!;
        results.get(name)!.push(await latency(base, path));
      }
    }
    const plain = median(results.get(measurements[0]!.name)!);
    console.log(
      `\nFilters and segments on ${ROWS} customers: median latency of ${REQUESTS} sequential requests, ${ROUNDS} rounds\n`,
    );
    console.log('| request | median ms | rounds (ms) | / plain first page |');
    console.log('|---|---|---|---|');
    for (const [name, times] of results) {
      console.log(
        `| ${name} | ${median(times).toFixed(2)} | ${times.map((ms) => ms.toFixed(2)).join(', ')} | ${(median(times) / plain).toFixed(2)}× |`,
      );
    }
  } finally {
    server.kill('SIGTERM');
    await once(server, 'exit');
  }
}

await main();
