import fp from 'fastify-plugin';
import pg from 'pg';
import type { DatabaseConfig } from '../config.js';
import { startEmbeddedPostgres } from '../embedded-postgres.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** The PostgreSQL pool every store shares. */
    db: pg.Pool;
    /** Where the pool connects: the configured server, or the embedded one's socket. */
    databaseUrl: string;
  }
}

export interface DatabaseOptions {
  database: DatabaseConfig;
}

/** Connections to a PostgreSQL server; pg's own default. */
const SERVER_POOL_SIZE = 10;

export default fp<DatabaseOptions>(
  async (app, { database }) => {
    const embedded = database.kind === 'embedded' ? await startEmbeddedPostgres(database.dataDir) : undefined;
    if (database.kind === 'embedded') app.log.info({ dataDir: database.dataDir }, 'using the embedded database (PGlite)');
    const connectionString = database.kind === 'embedded' ? embedded!.url : database.url;
    const pool = new pg.Pool({
      connectionString,
      application_name: 'customer-service',
      // PGlite is a single PostgreSQL session: over several connections, one request's
      // transaction would see another's statements. One connection serializes them.
      max: embedded ? 1 : SERVER_POOL_SIZE,
    });
    // An idle connection that the server drops must not take the process down with it.
    pool.on('error', (error) => app.log.warn({ err: error }, 'idle database connection failed'));
    app.decorate('db', pool);
    app.decorate('databaseUrl', connectionString);
    app.addHook('onClose', async () => {
      await pool.end();
      await embedded?.stop();
    });
  },
  { name: 'database' },
);
