/** What the benchmarks share: where they create databases, medians, a process's memory, a server's life. */
import { once } from 'node:events';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { FastifyInstance } from 'fastify';
import pg from 'pg';

/** A PostgreSQL server on which the role may create databases. */
export const serverUrl = new URL(process.env.BENCH_DATABASE_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres');

/** The URL of database `name` on that server. */
export const databaseUrl = (name: string) => Object.assign(new URL(serverUrl), { pathname: `/${name}` }).toString();

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
