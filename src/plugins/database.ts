import fp from 'fastify-plugin';
import pg from 'pg';

declare module 'fastify' {
  interface FastifyInstance {
    /** The PostgreSQL pool every store shares. */
    db: pg.Pool;
  }
}

export interface DatabaseOptions {
  connectionString: string;
}

export default fp<DatabaseOptions>(
  async (app, { connectionString }) => {
    const pool = new pg.Pool({ connectionString, application_name: 'customer-service' });
    // An idle connection that the server drops must not take the process down with it.
    pool.on('error', (error) => app.log.warn({ err: error }, 'idle database connection failed'));
    app.decorate('db', pool);
    app.addHook('onClose', () => pool.end());
  },
  { name: 'database' },
);
