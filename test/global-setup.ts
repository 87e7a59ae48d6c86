import type { TestProject } from 'vitest/node';
import { chooseTestDatabase, createTemplate, type TestDatabaseTemplate } from './support/database.js';

declare module 'vitest' {
  export interface ProvidedContext {
    testDatabase: TestDatabaseTemplate;
  }
}

/**
 * Creates one migrated template for this run (a database on the PostgreSQL server, or an
 * embedded data directory); each test file then works on its own copy, so files run in
 * parallel without seeing each other's rows.
 */
export default async function setup(project: TestProject) {
  const { kind, reason } = await chooseTestDatabase();
  console.log(
    kind === 'postgres'
      ? 'Tests run on PostgreSQL.'
      : `Tests run on the embedded database (PGlite)${reason ? `: ${reason}` : ''}.`,
  );
  const { template, drop } = await createTemplate(kind);
  project.provide('testDatabase', { kind, template });
  return drop;
}
