import { randomBytes } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import { Ajv } from 'ajv';
import { StringEnum } from './schemas/common.js';

/** The environment the service reads, once, at boot. */
export const EnvSchema = Type.Object({
  NODE_ENV: Type.String({ default: 'development' }),
  DATABASE_URL: Type.String({
    pattern: '^postgres(ql)?://',
    description: 'a PostgreSQL connection URL, e.g. postgresql://user@host:5432/db',
  }),
  HOST: Type.String({ minLength: 1, default: '0.0.0.0' }),
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3000 }),
  API_KEYS: Type.Optional(
    Type.String({
      pattern: '^[^:,\\s]+:[^,\\s]+(,[^:,\\s]+:[^,\\s]+)*$',
      description: 'a list of appId:secret pairs, e.g. app1:secret1,app2:secret2',
    }),
  ),
  LOG_LEVEL: StringEnum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], { default: 'info' }),
  PUBLIC_URL: Type.Optional(Type.String({ pattern: '^https?://[^\\s]+$', description: 'an http(s) URL' })),
  DATABASE_POOL_SIZE: Type.Integer({ minimum: 1, maximum: 1000, default: 10 }),
  DATABASE_CONNECT_TIMEOUT_MS: Type.Integer({ minimum: 50, maximum: 60_000, default: 1000 }),
  DATABASE_STATEMENT_TIMEOUT_MS: Type.Integer({ minimum: 50, maximum: 600_000, default: 5000 }),
  WORKER_ENABLED: Type.Boolean({ default: true }),
  WORKER_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 32, default: 1 }),
  WORKER_POLL_SECONDS: Type.Number({ minimum: 0.5, maximum: 60, default: 2 }),
  JOB_BATCH_SIZE: Type.Integer({ minimum: 1, maximum: 10_000, default: 1000 }),
  JOB_TIMEOUT_SECONDS: Type.Integer({ minimum: 3, maximum: 3600, default: 60 }),
  JOB_RETRIES: Type.Integer({ minimum: 0, maximum: 20, default: 5 }),
});
export type Env = Static<typeof EnvSchema>;

export interface ApiKey {
  appId: string;
  secret: string;
}

export interface DatabasePoolConfig {
  size: number;
  /** Longest wait for a pooled connection (or a new one) before a request fails with 503. */
  connectTimeoutMs: number;
  /** Longest a statement may run before PostgreSQL cancels it (and the request fails with 503). */
  statementTimeoutMs: number;
}

/** How async actions (bulk updates, imports) are queued and worked on. */
export interface JobsConfig {
  /** Whether this process works on jobs (a server can leave them to `npm run worker` processes). */
  worker: boolean;
  /** Jobs one process works on at once. */
  concurrency: number;
  /** How often an idle worker looks for a job queued by another process. */
  pollSeconds: number;
  /** Input rows applied per transaction. */
  batchSize: number;
  /**
   * A job whose worker has not reported within this long is taken over by another worker, which
   * resumes it where the last committed batch left it. Workers hand a long job on every third of it.
   */
  timeoutSeconds: number;
  /** A job that fails (an error, or its worker died) is tried this many more times before its action ends FAILED. */
  retries: number;
}

export interface Config {
  production: boolean;
  databaseUrl: string;
  databasePool: DatabasePoolConfig;
  host: string;
  port: number;
  logLevel: string;
  /** Base of the URLs the service hands out (cockpit pages), without a trailing slash. */
  publicUrl: string;
  apiKeys: ApiKey[];
  /** Set when no API_KEYS were configured and a pair was generated for this run. */
  generatedApiKey?: ApiKey;
  jobs: JobsConfig;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

const validateEnv = new Ajv({ allErrors: true, coerceTypes: true, useDefaults: true }).compile<Env>(EnvSchema);

function describeProblem(error: NonNullable<typeof validateEnv.errors>[number]): string {
  const variable =
    error.keyword === 'required' ? String(error.params.missingProperty) : error.instancePath.slice(1);
  const { description } = (EnvSchema.properties[variable as keyof Env] ?? {}) as { description?: string };
  switch (error.keyword) {
    case 'required':
      return `${variable} is required: ${description}`;
    case 'pattern':
      return `${variable} must be ${description}`;
    case 'enum':
      return `${variable} must be one of: ${(error.params.allowedValues as string[]).join(', ')}`;
    default:
      return `${variable} ${error.message}`;
  }
}

function parseApiKeys(value: string): ApiKey[] {
  return value.split(',').map((pair) => {
    const separator = pair.indexOf(':');
    return { appId: pair.slice(0, separator), secret: pair.slice(separator + 1) };
  });
}

/** Reads and checks the environment; throws a ConfigError naming every bad variable. */
export function loadConfig(source: Record<string, string | undefined>): Config {
  const known = Object.keys(EnvSchema.properties);
  const env: Record<string, unknown> = Object.fromEntries(
    Object.entries(source).filter(([name, value]) => known.includes(name) && value !== undefined && value !== ''),
  );
  if (!validateEnv(env)) {
    throw new ConfigError((validateEnv.errors ?? []).map(describeProblem));
  }
  const production = env.NODE_ENV === 'production';
  let apiKeys: ApiKey[];
  let generatedApiKey: ApiKey | undefined;
  if (env.API_KEYS) {
    apiKeys = parseApiKeys(env.API_KEYS);
  } else if (production) {
    throw new ConfigError([`API_KEYS is required when NODE_ENV=production: ${EnvSchema.properties.API_KEYS.description}`]);
  } else {
    generatedApiKey = { appId: `app_${randomBytes(8).toString('hex')}`, secret: randomBytes(24).toString('hex') };
    apiKeys = [generatedApiKey];
  }
  const publicUrl = (env.PUBLIC_URL ?? `http://localhost:${env.PORT}`).replace(/\/+$/, '');
  return {
    production,
    databaseUrl: env.DATABASE_URL,
    databasePool: {
      size: env.DATABASE_POOL_SIZE,
      connectTimeoutMs: env.DATABASE_CONNECT_TIMEOUT_MS,
      statementTimeoutMs: env.DATABASE_STATEMENT_TIMEOUT_MS,
    },
    host: env.HOST,
    port: env.PORT,
    logLevel: env.LOG_LEVEL,
    publicUrl,
    apiKeys,
    generatedApiKey,
    jobs: {
      worker: env.WORKER_ENABLED,
      concurrency: env.WORKER_CONCURRENCY,
      pollSeconds: env.WORKER_POLL_SECONDS,
      batchSize: env.JOB_BATCH_SIZE,
      timeoutSeconds: env.JOB_TIMEOUT_SECONDS,
      retries: env.JOB_RETRIES,
    },
  };
}
