import { PrismaPg } from '@prisma/adapter-pg';
import type pg from 'pg';
import { defineConfig } from 'prisma/config';

/**
 * PrismaPg runs a migration by splitting its script on every ";" (so a semicolon in a comment
 * or a function body breaks it) and sending the pieces one by one, outside any transaction.
 * This sends each script whole: PostgreSQL runs a multi-statement query as one implicit
 * transaction, so a migration applies completely or not at all.
 */
class WholeScriptPrismaPg extends PrismaPg {
  override async connect() {
    const adapter = await super.connect();
    const pool = adapter.underlyingDriver() as pg.Pool;
    const reportError = (adapter as unknown as { onError(error: unknown): never }).onError.bind(adapter);
    adapter.executeScript = async (script: string) => {
      await pool.query(script).catch(reportError);
    };
    return adapter;
  }
}

// The WASM schema engine (engine: "js") is the only one that migrates without downloading
// binaries; see "Database and migrations" in the README.
export default defineConfig({
  schema: 'prisma/schema.prisma',
  experimental: { adapter: true },
  engine: 'js',
  async adapter() {
    const connectionString = process.env.DATABASE_URL;
    if (!connectionString) throw new Error('DATABASE_URL must be set to run migrations');
    return new WholeScriptPrismaPg({ connectionString });
  },
});
