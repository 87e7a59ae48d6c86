/** What the benchmarks share: where they create databases, medians, a process's memory, a server's life. */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import type { FastifyInstance } from 'fastify';
import pg from 'pg';

/** A PostgreSQL server on which the role may create databases. */
export const serverUrl = new URL(process.env.BENCH_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres');

/** The URL of database `name` on that server. */
export const databaseUrl = (name: string) => Object.assign(new URL(serverUrl), { pathname: `/${name}` }).toString();

const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));

/**
 * The built service as `npm start` runs it, node's flags included (they bound its heap, see the
 * README's "Memory"): the arguments of package.json's start script after `exec node`, so a
 * benchmark measures what users run.
 */
export const SERVICE_COMMAND: string[] = (
  JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { scripts: { start: string } }
).scripts.start
  .split(/\s+/)
  .slice(2);

/**
 * A database of `rows` seeded customers, reused while its migrations and size still match; a
 * `fresh` one is made again every run and never analyzed, as a table is right after many creates.
 * BENCH_DATABASE_PREFIX (`cs_bench`) names it, so checkouts sharing a server keep their own; a
 * benchmark that writes much into it (exports) names its own copy with `tag`.
 */
export async function prepareDatabase(rows: number, { fresh = false, tag = '' } = {}): Promise<string> {
  const name = `${process.env.BENCH_DATABASE_PREFIX ?? 'cs_bench'}_${rows}${fresh ? '_fresh' : ''}${tag ? `_${tag}` : ''}`;
  const admin = new pg.Client({ connectionString: serverUrl.toString() });
  await admin.connect();
  const exists = (await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [name])).rowCount === 1;
  const migrations = (await run('ls', [join(root, 'prisma/migrations')])).stdout.trim();
  if (exists && !fresh) {
    const db = new pg.Client({ connectionString: databaseUrl(name) });
    await db.connect();
    const marker = await db
      .query<{ rows: number; migrations: string }>('SELECT rows, migrations FROM bench_meta')
      .catch(() => ({ rows: [] }));
    await db.end();
    if (marker.rows[0]?.rows === rows && marker.rows[0].migrations === migrations) {
      await admin.end();
      console.error(`[bench] reusing ${name}`);
      return databaseUrl(name);
    }
  }
  console.error(`[bench] creating ${name} with ${rows} customers`);
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  await run(process.execPath, [join(root, 'node_modules/prisma/build/index.js'), 'migrate', 'deploy'], {
    cwd: root,
    env: { ...process.env, DATABASE_URL: databaseUrl(name) },
  });
  await run(
    'psql',
    [
      databaseUrl(name),
      '-v',
      'ON_ERROR_STOP=1',
      '-q',
      '-v',
      `rows=${rows}`,
      '-v',
      `fresh=${fresh}`,
      '-f',
      join(root, 'bench/seed.sql'),
    ],
    {
      maxBuffer: 1 << 24,
    },
  );
  const db = new pg.Client({ connectionString: databaseUrl(name) });
  await db.connect();
  await db.query('CREATE TABLE bench_meta (rows int, migrations text)');
  await db.query('INSERT INTO bench_meta VALUES ($1, $2)', [rows, migrations]);
  await db.end();
  return databaseUrl(name);
}

export const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
};

/** A process's resident set size in bytes, from /proc (0 once it has gone). */
export async function residentBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0) * 1024;
}

/** CPU seconds so far: the whole machine's busy time, each of some processes', and this (benchmark) process's. */
export async function cpuSeconds(pids: number[]): Promise<{ machine: number; processes: number[]; bench: number }> {
  const TICKS = 100; // USER_HZ on Linux
  const [machineStat, ...processStats] = await Promise.all([
    readFile('/proc/stat', 'utf8'),
    ...pids.map((pid) => readFile(`/proc/${pid}/stat`, 'utf8')),
  ]);
  // cpu  user nice system idle iowait irq softirq steal ...: busy is all but idle and iowait.
  const [user, nice, system, , , irq, softirq, steal] = machineStat!.split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  // Fields after the command's closing parenthesis: utime and stime are the 12th and 13th.
  const processSeconds = (stat: string) => {
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS;
  };
  const own = process.cpuUsage();
  return {
    machine: (user! + nice! + system! + irq! + softirq! + steal!) / TICKS,
    processes: processStats.map(processSeconds),
    bench: (own.user + own.system) / 1e6,
  };
}

/** Wall time of `\copy` in a psql process, as a user would run it. */
export async function timeCopy(url: string, command: string): Promise<number> {
  const started = performance.now();
  await promisify(execFile)('psql', [url, '-v', 'ON_ERROR_STOP=1', '-qc', command]);
  return performance.now() - started;
}

/** Runs `work` while sampling the server's RSS: its wall time and the peak growth of RSS. */
export async function measured<T>(pid: number, work: () => Promise<T>): Promise<{ value: T; ms: number; growth: number }> {
  const before = await residentBytes(pid);
  let peak = before;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      peak = Math.max(peak, await residentBytes(pid));
      await sleep(20);
    }
  })();
  const started = performance.now();
  try {
    const value = await work();
    return { value, ms: performance.now() - started, growth: peak - before };
  } finally {
    sampling = false;
    await sampler;
  }
}

/**
 * Listens on 127.0.0.1:PORT (any free port by default) and says where, as the routes
 * benchmark expects; SIGINT or SIGTERM closes the server, then the pool, and exits.
 */
export async function serveUntilSignalled(app: FastifyInstance, pool: pg.Pool, name: string): Promise<void> {
  await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 0) });
  console.log(`${name} listening at http://127.0.0.1:${(app.server.address() as { port: number }).port}`);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      app
        .close()
        .then(() => pool.end())
        .then(() => process.exit(0));
    });
  }
}

/** An app id and its secret, as API_KEYS pairs them. */
export interface BenchAuth {
  appId: string;
  secret: string;
}

/**
 * Starts a server (`node <command>`) on `url` and a free port, in production mode, with the rate
 * limit out of the way; resolves once it listens.
 */
export async function startServer(
  command: string[],
  url: string,
  auth: BenchAuth,
  extraEnv: Record<string, string> = {},
): Promise<{ base: string; child: ChildProcess }> {
  const child = spawn(process.execPath, command, {
    cwd: root,
    env: {
      ...process.env,
      DATABASE_URL: url,
      HOST: '127.0.0.1',
      PORT: '0',
      API_KEYS: `${auth.appId}:${auth.secret}`,
      COCKPIT_SECRET: 'bench-cockpit-secret-0123456789abcdef',
      // The limiter runs on every request, as in production, but never refuses one here.
      RATE_LIMIT_PER_MINUTE: '1000000000',
      NODE_ENV: 'production',
      ...extraEnv,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const base = await new Promise<string>((resolve, reject) => {
    let output = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk;
      const match = /listening at (http:\/\/127\.0\.0\.1:\d+)/i.exec(output);
      if (match) resolve(match[1]!);
      if (output.length > 1 << 16) output = output.slice(-4096);
    });
    child.once('exit', (code) => reject(new Error(`${command.join(' ')} exited with ${code}`)));
  });
  return { base, child };
}

export interface WrkResult {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}

export interface WrkSettings {
  connections: number;
  durationSeconds: number;
  auth: BenchAuth;
  /** Environment of the Lua script. */
  extraEnv?: Record<string, string>;
}

const toMs = (value: string, unit: string) => Number(value) * ({ us: 0.001, ms: 1, s: 1000, m: 60_000 }[unit] ?? NaN);

/** One wrk run of a Lua script against `base`, authenticated: throughput, latency (ms) and errors. */
export async function wrk(
  base: string,
  luaFile: string,
  { connections, durationSeconds, auth, extraEnv = {} }: WrkSettings,
): Promise<WrkResult> {
  const { stdout } = await promisify(execFile)(
    'wrk',
    [
      '-t1',
      `-c${connections}`,
      `-d${durationSeconds}s`,
      '--latency',
      '-H',
      `X-App-Id: ${auth.appId}`,
      '-H',
      `X-App-Token: ${auth.secret}`,
      '-s',
      luaFile,
      base,
    ],
    { env: { ...process.env, ...extraEnv } },
  );
  const latency = (percent: string) => {
    const match = new RegExp(`^\\s+${percent}%\\s+([\\d.]+)(us|ms|s|m)$`, 'm').exec(stdout);
    return match ? toMs(match[1]!, match[2]!) : NaN;
  };
  const errors =
    Number(/Non-2xx or 3xx responses: (\d+)/.exec(stdout)?.[1] ?? 0) +
    (/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/
      .exec(stdout)
      ?.slice(1)
      .reduce((sum, n) => sum + Number(n), 0) ?? 0);
  return { rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(stdout)?.[1]), p50: latency('50'), p99: latency('99'), errors };
}

/** Runs one statement on the server's own database (CREATE or DROP DATABASE). */
export async function adminQuery(sql: string) {
  const client = new pg.Client({ connectionString: serverUrl.toString() });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** A TCP port free on 127.0.0.1 now. */
export async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as { port: number };
  server.close();
  return port;
}

/**
 * Waits until a server started as `server` answers `url` with a 2xx (it applies the migrations,
 * then listens); fails once it has exited or a minute has passed.
 */
export async function untilServing(server: ChildProcess, url: string, headers: Record<string, string> = {}): Promise<void> {
  for (let tries = 0; ; tries += 1) {
    const up = await fetch(url, { headers }).then(
      (response) => response.ok,
      () => false,
    );
    if (up) return;
    if (tries > 600 || server.exitCode !== null) throw new Error('the server did not start');
    await sleep(100);
  }
}
