/** What the benchmarks share: where they create databases, medians, a process's memory, a server's life. */
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
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
 * A database of `rows` seeded customers, reused while its migrations and size still match; a
 * `fresh` one is made again every run and never analyzed, as a table is right after many creates.
 */
export async function prepareDatabase(rows: number, { fresh = false } = {}): Promise<string> {
  const name = `cs_bench_${rows}${fresh ? '_fresh' : ''}`;
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
