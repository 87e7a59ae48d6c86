/**
 * `npm run bench:idempotency` (part of `npm run bench`): what an Idempotency-Key costs a write.
 *
 * wrk sends POST /v1/customers {source_id, name} to the built service (node dist/server.js) on
 * real PostgreSQL, every request a new customer, alternately without a key and with a new key
 * per request, in rotated rounds on a fresh database. Reports the medians of both and their
 * ratio (keyed / unkeyed req/s; the target is ≥ 0.7).
 *
 * Settings (environment): BENCH_DATABASE_URL (a server the role may create databases on),
 * BENCH_DURATION seconds per run (10), BENCH_ROUNDS (3), BENCH_CONNECTIONS (16).
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import { databaseUrl, median, serverUrl, SERVICE_COMMAND, startServer, wrk, type WrkResult } from './support.js';

const env = process.env;
const DURATION = Number(env.BENCH_DURATION ?? 10);
const ROUNDS = Number(env.BENCH_ROUNDS ?? 3);
const CONNECTIONS = Number(env.BENCH_CONNECTIONS ?? 16);
const AUTH = { appId: 'bench', secret: 'bench-secret' };
const root = fileURLToPath(new URL('..', import.meta.url));
const log = (message: string) => console.error(`[bench] ${message}`);

/** A create per request, each with a source_id of its own; with a key of its own too when `keyed`. */
const createScript = (keyed: boolean) => `math.randomseed(os.time())
local counter = 0
local thread = os.time() .. "-" .. math.random(1, 1000000000)
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  counter = counter + 1
  local id = thread .. "-" .. counter
  ${keyed ? 'wrk.headers["Idempotency-Key"] = "bench-key-" .. id' : ''}
  return wrk.format(nil, "/v1/customers", nil, '{"source_id":"bench-new-' .. id .. '","name":"New"}')
end`;

// A database of its own, so that runs from other checkouts never share it.
const name = `cs_bench_idempotency_${randomBytes(4).toString('hex')}`;
const admin = new pg.Client({ connectionString: serverUrl.toString() });
await admin.connect();
await admin.query(`CREATE DATABASE ${name}`);
const url = databaseUrl(name);
const directory = await mkdtemp(join(tmpdir(), 'cs-bench-idempotency-'));
const scripts = { unkeyed: join(directory, 'unkeyed.lua'), keyed: join(directory, 'keyed.lua') };
await writeFile(scripts.unkeyed, createScript(false));
await writeFile(scripts.keyed, createScript(true));
const results: Record<keyof typeof scripts, WrkResult[]> = { unkeyed: [], keyed: [] };
try {
  await promisify(execFile)(process.execPath, [join(root, 'node_modules/prisma/build/index.js'), 'migrate', 'deploy'], {
    cwd: root,
    env: { ...env, DATABASE_URL: url },
  });
  const service = await startServer(SERVICE_COMMAND, url, AUTH);
  try {
    const settings = { connections: CONNECTIONS, durationSeconds: DURATION, auth: AUTH };
    // A first short run warms the service up; it is not counted.
    await wrk(service.base, scripts.keyed, { ...settings, durationSeconds: 2 });
    for (let round = 0; round < ROUNDS; round += 1) {
      const order = round % 2 === 0 ? (['unkeyed', 'keyed'] as const) : (['keyed', 'unkeyed'] as const);
      for (const which of order) results[which].push(await wrk(service.base, scripts[which], settings));
      log(`round ${round + 1}: unkeyed ${results.unkeyed.at(-1)!.rps} req/s, keyed ${results.keyed.at(-1)!.rps} req/s`);
    }
  } finally {
    service.child.kill('SIGTERM');
    await new Promise((resolve) => service.child.once('exit', resolve));
  }
} finally {
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.end();
}

const rps = (which: keyof typeof scripts) => median(results[which].map((result) => result.rps));
const p = (which: keyof typeof scripts, percentile: 'p50' | 'p99') => median(results[which].map((result) => result[percentile]));
const errors = [...results.unkeyed, ...results.keyed].reduce((sum, result) => sum + result.errors, 0);
console.log(
  [
    `## Idempotency-Key on POST /v1/customers`,
    ``,
    `${new Date().toISOString()} · wrk -t1 -c${CONNECTIONS} -d${DURATION}s · medians of ${ROUNDS} alternated rounds`,
    ``,
    `| create | req/s | p50 ms | p99 ms |`,
    `|---|---|---|---|`,
    `| without a key | ${rps('unkeyed').toFixed(0)} | ${p('unkeyed', 'p50').toFixed(2)} | ${p('unkeyed', 'p99').toFixed(2)} |`,
    `| with a new key each | ${rps('keyed').toFixed(0)} | ${p('keyed', 'p50').toFixed(2)} | ${p('keyed', 'p99').toFixed(2)} |`,
    ``,
    `keyed / unkeyed req/s: ${(rps('keyed') / rps('unkeyed')).toFixed(2)} (target ≥ 0.70); non-2xx or socket errors: ${errors}`,
  ].join('\n'),
);
if (errors > 0) throw new Error(`${errors} requests failed during the benchmark`);
