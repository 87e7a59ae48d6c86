import fp from 'fastify-plugin';
import pg from 'pg';
import type { DatabaseConfig, DatabasePoolConfig } from '../config.js';
import type { EmbeddedPostgres } from '../embedded-postgres.js';
import { PreparingClient } from '../prepared-statements.js';
import { TransactionalPool } from '../transaction.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The PostgreSQL pool every store shares (a request's own transaction, when it runs in one: src/transaction.ts). */
    db: pg.Pool;
    /** Where the pool connects: the configured server, or the embedded one's socket. */
    databaseUrl: string;
  }
}

export interface DatabaseOptions {
  database: DatabaseConfig;
  pool: DatabasePoolConfig;
}

/**
 * Failures that mean the database cannot serve now but may shortly: unreachable, restarting,
 * out of connections, a statement or a wait for a connection that ran out of time, or a
 * transaction that lost a deadlock. A client should retry them.
 */
export function isDatabaseUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const { code } = error as { code?: unknown };
  if (typeof code === 'string') {
    // SQLSTATE classes 08 (connection), 53 (resources), 57P (shutdown), 57014 (statement
    // timeout), 40001/40P01 (serialization, deadlock); then Node's socket errors.
    if (/^(08|53|57P|57014|40001|40P01)/.test(code)) return true;
    if (['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH'].includes(code)) return true;
  }
  return /^(Connection terminated|timeout exceeded when trying to connect|Query read timeout)/.test(error.message);
}

export default fp<DatabaseOptions>(
  async (app, { database, pool: settings }) => {
    let embedded: EmbeddedPostgres | undefined;
    let connectionString: string;
    if (database.kind === 'embedded') {
      // Loaded only when used: PGlite costs a server on PostgreSQL some 7 MiB of memory for nothing.
      embedded = await (await import('../embedded-postgres.js')).startEmbeddedPostgres(database.dataDir);
      app.log.info({ dataDir: database.dataDir }, 'using the embedded database (PGlite)');
      connectionString = embedded.url;
    } else {
      connectionString = database.url;
    }
    const pool = new TransactionalPool({
      Client: PreparingClient,
      // PGlite is one session for every connection: statements a closed connection prepared are
      // still there, and preparing them again under their names would fail. A new connection
      // drops them before the pool hands it out.
      onConnect: embedded ? (client) => client.query('DEALLOCATE ALL') : undefined,
      connectionString,
      application_name: 'customer-service',
      // PGlite is a single PostgreSQL session: over several connections, one request's
      // transaction would see another's statements. One connection serializes them.
      max: embedded ? 1 : settings.size,
      // Every wait is bounded, so a slow or absent database ends in a 503, never a hung request.
      connectionTimeoutMillis: settings.connectTimeoutMs,
      statement_timeout: settings.statementTimeoutMs,
      // A server that vanished without closing the socket cannot cancel anything: give up a
      // little after the statement timeout.
      query_timeout: settings.statementTimeoutMs + 1000,
      keepAlive: true,
    });
    // An idle connection that the server drops must not take the process down with it.
    pool.on('error', (error) => app.log.warn({ err: error }, 'idle database connection failed'));
    // Nor one in use: the pool listens only to idle connections, and a checked-out one (a
    // transaction's) emits 'error' when the server goes away. The statement running on it fails
    // with the same error (its request answers 503), and the pool discards it on release.
    pool.on('connect', (client) =>
      client.on('error', (error) => app.log.warn({ err: error }, 'database connection in use failed')),
    );
    app.decorate('db', pool);
    app.decorate('databaseUrl', connectionString);
    app.addHook('onClose', async () => {
      await pool.end();
      await embedded?.stop();
    });
  },
  { name: 'database' },
);
