import { randomBytes } from 'node:crypto';
import type { TestProject } from 'vitest/node';
import { adminQuery, migrate, testDatabaseUrl } from './support/database.js';

declare module 'vitest' {
  export interface ProvidedContext {
    templateDatabase: string;
  }
}

/**
 * Creates one migrated database for this run; each test file then copies it
 * (CREATE DATABASE ... TEMPLATE), so files run in parallel without seeing each other's rows.
 */
export default async function setup(project: TestProject) {
  const template = `cs_template_${randomBytes(4).toString('hex')}`;
  await adminQuery(`CREATE DATABASE ${template}`);
  migrate(testDatabaseUrl(template));
  project.provide('templateDatabase', template);
  return async () => {
    await adminQuery(`DROP DATABASE IF EXISTS ${template} WITH (FORCE)`);
  };
}
