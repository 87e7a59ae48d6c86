import { execFile } from 'node:child_process';
import { readdir } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type pg from 'pg';

/** The project root: src/ and dist/ both sit one level below it. */
const projectRoot = fileURLToPath(new URL('..', import.meta.url));
const prismaCli = createRequire(import.meta.url).resolve('prisma/build/index.js');

let committedMigrations: Promise<string[]> | undefined;

/** The migrations committed with this build: read once, they cannot change while it runs. */
const committed = () =>
  (committedMigrations ??= readdir(`${projectRoot}/prisma/migrations`, { withFileTypes: true }).then((entries) =>
    entries.filter((entry) => entry.isDirectory()).map((entry) => entry.name),
  ));

/** Committed migrations that the database has not finished applying. */
export async function pendingMigrations(db: pg.Pool): Promise<string[]> {
  const { rows: table } = await db.query<{ exists: boolean }>("SELECT to_regclass('_prisma_migrations') IS NOT NULL AS exists");
  const { rows } = table[0]?.exists
    ? await db.query<{ migration_name: string }>(
        'SELECT migration_name FROM _prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL',
      )
    : { rows: [] };
  const applied = new Set(rows.map((row) => row.migration_name));
  return (await committed()).filter((name) => !applied.has(name)).sort();
}

/**
 * Applies pending migrations with `prisma migrate deploy` (the WASM schema engine: no binary
 * download). The CLI costs about 11 s here, most of it a timer its engine leaves behind, so
 * it only runs when a committed migration is not applied yet.
 */
export async function applyPendingMigrations(db: pg.Pool, databaseUrl: string): Promise<string[]> {
  const pending = await pendingMigrations(db);
  if (pending.length > 0) {
    await promisify(execFile)(process.execPath, [prismaCli, 'migrate', 'deploy'], {
      cwd: projectRoot,
      env: { ...process.env, DATABASE_URL: databaseUrl },
    });
  }
  return pending;
}
