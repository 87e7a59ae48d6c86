import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { Type, type Static } from '@sinclair/typebox';
import { Ajv } from 'ajv';
import { StringEnum } from './schemas/common.js';

const SECRET_MIN_LENGTH = 32;

/** The environment the service reads, once, at boot. */
export const EnvSchema = Type.Object({
  NODE_ENV: Type.String({ default: 'development' }),
  DATABASE_URL: Type.Optional(
    Type.String({
      pattern: '^postgres(ql)?://',
      description: 'a PostgreSQL connection URL, e.g. postgresql://user@host:5432/db',
    }),
  ),
  DATA_DIR: Type.String({ minLength: 1, default: './data' }),
  HOST: Type.String({ minLength: 1, default: '0.0.0.0' }),
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3000 }),
  API_KEYS: Type.Optional(
    Type.String({
      pattern: '^[^:,\\s]+:[^,\\s]+(,[^:,\\s]+:[^,\\s]+)*$',
      description: 'a list of appId:secret pairs, e.g. app1:secret1,app2:secret2',
    }),
  ),
  COCKPIT_SECRET: Type.Optional(
    Type.String({
      minLength: SECRET_MIN_LENGTH,
      description: `a random string of at least ${SECRET_MIN_LENGTH} characters, e.g. the output of \`openssl rand -hex 32\``,
    }),
  ),
  COCKPIT_PREVIOUS_SECRETS: Type.Optional(
    Type.String({
      pattern: `^[^,\\s]{${SECRET_MIN_LENGTH},}(,[^,\\s]{${SECRET_MIN_LENGTH},})*$`,
      description: `a comma-separated list of former COCKPIT_SECRET values (each at least ${SECRET_MIN_LENGTH} characters), whose links still work until they expire`,
    }),
  ),
  COCKPIT_LINK_TTL_HOURS: Type.Integer({ minimum: 1, maximum: 8760, default: 168 }),
  RATE_LIMIT_PER_MINUTE: Type.Integer({ minimum: 0, default: 6000 }),
  HEALTH_READY_CACHE_MS: Type.Integer({ minimum: 0, maximum: 60_000, default: 1000 }),
  METRICS_TOKEN: Type.Optional(
    Type.String({
      minLength: SECRET_MIN_LENGTH,
      description: `a random string of at least ${SECRET_MIN_LENGTH} characters, e.g. the output of \`openssl rand -hex 32\``,
    }),
  ),
  AUTH_FAILURES_PER_MINUTE_PER_ADDRESS: Type.Integer({ minimum: 0, default: 30 }),
  AUTH_FAILURES_PER_MINUTE_PER_APP: Type.Integer({ minimum: 0, default: 300 }),
  TRUST_PROXY: Type.Optional(
    Type.String({
      pattern: '^(true|false|[0-9A-Fa-f.:/]+(,[0-9A-Fa-f.:/]+)*)$',
      description: 'true, false, or a comma-separated list of proxy addresses or CIDR ranges, e.g. 10.0.0.0/8,127.0.0.1',
    }),
  ),
  REQUEST_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 3_600_000, default: 60_000 }),
  CONNECTION_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 3_600_000, default: 120_000 }),
  MAX_CONNECTIONS: Type.Integer({ minimum: 1, maximum: 1_000_000, default: 1000 }),
  LOG_LEVEL: StringEnum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], { default: 'info' }),
  LOG_FORMAT: Type.Optional(StringEnum(['json', 'pretty'])),
  PUBLIC_URL: Type.Optional(Type.String({ pattern: '^https?://[^\\s]+$', description: 'an http(s) URL' })),
  DATABASE_POOL_SIZE: Type.Integer({ minimum: 1, maximum: 1000, default: 10 }),
  DATABASE_CONNECT_TIMEOUT_MS: Type.Integer({ minimum: 50, maximum: 60_000, default: 1000 }),
  DATABASE_STATEMENT_TIMEOUT_MS: Type.Integer({ minimum: 50, maximum: 600_000, default: 5000 }),
  WORKER_ENABLED: Type.Boolean({ default: true }),
  WORKER_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 32, default: 1 }),
  WORKER_NICE: Type.Integer({ minimum: 0, maximum: 19, default: 10 }),
  WORKER_POLL_SECONDS: Type.Number({ minimum: 0.5, maximum: 60, default: 2 }),
  JOB_BATCH_SIZE: Type.Integer({ minimum: 1, maximum: 10_000, default: 1000 }),
  JOB_IMPORT_LANES: Type.Integer({ minimum: 1, maximum: 8, default: 2 }),
  JOB_TIMEOUT_SECONDS: Type.Integer({ minimum: 3, maximum: 3600, default: 60 }),
  JOB_RETRIES: Type.Integer({ minimum: 0, maximum: 20, default: 5 }),
  ASYNC_ACTION_REPORT_RETENTION_HOURS: Type.Integer({ minimum: 1, maximum: 8760, default: 168 }),
  EXPORT_MAX_PENDING: Type.Integer({ minimum: 1, maximum: 100_000, default: 100 }),
  EXPORT_TIMEOUT_SECONDS: Type.Integer({ minimum: 3, maximum: 86_400, default: 900 }),
  EXPORT_RETENTION_HOURS: Type.Integer({ minimum: 1, maximum: 8760, default: 168 }),
  PROJECT_ID: Type.String({ pattern: '^[A-Za-z0-9_-]{1,100}$', default: 'default', description: 'letters, digits, _ and -' }),
  IDEMPOTENCY_KEY_TTL_SECONDS: Type.Integer({ minimum: 1, maximum: 30 * 24 * 3600, default: 24 * 3600 }),
  WEBHOOK_ALLOW_PRIVATE_URLS: Type.Boolean({ default: false }),
  WEBHOOK_ALLOW_HTTP: Type.Optional(Type.Boolean()),
  WEBHOOK_TIMEOUT_MS: Type.Integer({ minimum: 100, maximum: 60_000, default: 10_000 }),
  WEBHOOK_RETRY_BASE_MS: Type.Integer({ minimum: 1, maximum: 3_600_000, default: 5000 }),
  WEBHOOK_RETRY_MAX_MS: Type.Integer({ minimum: 1, maximum: 86_400_000, default: 3_600_000 }),
  WEBHOOK_DISABLE_AFTER_MS: Type.Integer({ minimum: 1, default: 3 * 86_400_000 }),
  WEBHOOK_POLL_MS: Type.Integer({ minimum: 10, maximum: 60_000, default: 250 }),
  WEBHOOK_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 1000, default: 200 }),
});
export type Env = Static<typeof EnvSchema>;

export interface ApiKey {
  appId: string;
  secret: string;
}

/** A PostgreSQL server, or the embedded one (PGlite) keeping its files in a directory. */
export type DatabaseConfig = { kind: 'postgres'; url: string } | { kind: 'embedded'; dataDir: string };

export interface DatabasePoolConfig {
  /** Connections to a PostgreSQL server (the embedded database always gets one). */
  size: number;
  /** Longest wait for a pooled connection (or a new one) before a request fails with 503. */
  connectTimeoutMs: number;
  /** Longest a statement may run before PostgreSQL cancels it (and the request fails with 503). */
  statementTimeoutMs: number;
}

/** Bounds on what one client can hold of the HTTP server. */
export interface HttpLimitsConfig {
  /**
   * Longest a client may take to send a whole request, headers and body; after it, 408 and the
   * connection closes. A 10 MiB upload needs at least 1.4 Mbit/s at the default of 60 s.
   */
  requestTimeoutMs: number;
  /** Longest a connection may stay silent both ways (e.g. a client that stops reading its answer) before it is closed. */
  connectionTimeoutMs: number;
  /** Connections open at once; the ones over it are closed as they arrive. */
  maxConnections: number;
}

/** Failed authentications allowed per minute before requests are answered 429; 0 turns a limit off. */
export interface AuthFailureLimits {
  /** From one client address. */
  perAddress: number;
  /** Naming one app id, from any address. */
  perAppId: number;
}

/** How async actions (bulk updates, imports) are queued and worked on. */
export interface JobsConfig {
  /** Whether this process works on jobs (a server can leave them to `npm run worker` processes). */
  worker: boolean;
  /** Jobs one process works on at once. */
  concurrency: number;
  /** The CPU priority (nice value) an `npm run worker` process gives itself: the servers' requests come first. */
  nice: number;
  /** How often an idle worker looks for a job queued by another process. */
  pollSeconds: number;
  /** Input rows applied per transaction. */
  batchSize: number;
  /**
   * Batches of one CSV import applied at once, each on its own connection (a customer's rows all
   * in one lane, in file order): 1 on the embedded database, which has one connection.
   */
  importLanes: number;
  /**
   * A job whose worker has not reported within this long is taken over by another worker, which
   * resumes it where the last committed batch left it. Workers hand a long job on every third of it.
   */
  timeoutSeconds: number;
  /** A job that fails (an error, or its worker died) is tried this many more times before its action ends FAILED. */
  retries: number;
  /** How long the report of a bulk or metadata update can be downloaded after the action ends. */
  reportRetentionHours: number;
  /** Customer exports (src/exports/). */
  exports: ExportsConfig;
}

/** How customer exports are queued, written and kept. */
export interface ExportsConfig {
  /** Exports SCHEDULED or IN_PROGRESS at most: one more is refused with 429 until one ends. */
  maxPending: number;
  /** An export whose worker has not finished within this long is restarted by another worker. */
  timeoutSeconds: number;
  /** How long a DONE export's file can be downloaded; then it is dropped. */
  retentionHours: number;
}

/** How webhooks are delivered (src/webhooks/). */
export interface WebhooksConfig {
  /** Whether URLs that resolve to loopback, private, link-local or metadata addresses are allowed. */
  allowPrivateUrls: boolean;
  /** Whether http:// URLs are allowed (by default, everywhere but in production). */
  allowHttp: boolean;
  /** Longest an attempt may take, connecting included. */
  timeoutMs: number;
  /** The wait after a first failed attempt; each next one doubles it, up to retryMaxMs, with jitter. */
  retryBaseMs: number;
  retryMaxMs: number;
  /** An endpoint whose every attempt failed for this long is disabled. */
  disableAfterMs: number;
  /** How often an idle worker looks for new events and messages due. */
  pollMs: number;
  /** Messages one process sends at once. */
  concurrency: number;
}

export interface Config {
  production: boolean;
  database: DatabaseConfig;
  databasePool: DatabasePoolConfig;
  host: string;
  port: number;
  http: HttpLimitsConfig;
  logLevel: string;
  /** Human-readable log lines instead of JSON (by default when stdout is a terminal). */
  prettyLogs: boolean;
  /** The one project of the management API's paths (`/management/v1/projects/{projectId}/…`). */
  projectId: string;
  /** Base of the URLs the service hands out (cockpit pages), without a trailing slash. */
  publicUrl: string;
  apiKeys: ApiKey[];
  /** Set when no API_KEYS were configured and a pair was generated for this run. */
  generatedApiKey?: ApiKey;
  jobs: JobsConfig;
  webhooks: WebhooksConfig;
  /** Signs the tokens of cockpit links. */
  cockpitSecret: string;
  /** Set when no COCKPIT_SECRET was configured and one was generated for this run. */
  cockpitSecretGenerated: boolean;
  /** Former cockpit secrets (COCKPIT_PREVIOUS_SECRETS): links they signed still work until they expire. */
  cockpitPreviousSecrets: string[];
  /** How long a cockpit link works at least: it expires at the first UTC midnight this many hours after it was handed out. */
  cockpitLinkTtlHours: number;
  /** Requests each app id may make per minute on /v1; 0 turns rate limiting off. */
  rateLimitPerMinute: number;
  /** How long the answer to a request sent with an Idempotency-Key is kept for a repeat. */
  idempotencyKeyTtlSeconds: number;
  authFailureLimits: AuthFailureLimits;
  /** How long /health/ready reuses its last answer; 0 checks the database on every call. */
  healthReadyCacheMs: number;
  /** Set: /metrics requires `Authorization: Bearer <token>`. Unset: /metrics is open, as a default Prometheus scrape expects. */
  metricsToken?: string;
  /**
   * Which proxies' X-Forwarded-For and X-Forwarded-Proto to believe (Fastify's `trustProxy`):
   * the client address failed authentications are counted by, and whether a request came over HTTPS.
   */
  trustProxy: boolean | string[];
}

export interface LoadConfigOptions {
  /** Whether stdout is a terminal: logs default to readable lines there. */
  terminal?: boolean;
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`Invalid configuration:\n${problems.map((problem) => `  - ${problem}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

const validateEnv = new Ajv({ allErrors: true, coerceTypes: true, useDefaults: true }).compile<Env>(EnvSchema);

function describeProblem(error: NonNullable<typeof validateEnv.errors>[number]): string {
  const variable = error.keyword === 'required' ? String(error.params.missingProperty) : error.instancePath.slice(1);
  const { description } = (EnvSchema.properties[variable as keyof Env] ?? {}) as { description?: string };
  switch (error.keyword) {
    case 'required':
      return `${variable} is required: ${description}`;
    case 'pattern':
    case 'minLength':
      return description ? `${variable} must be ${description}` : `${variable} ${error.message}`;
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

function parseTrustProxy(value: string | undefined): boolean | string[] {
  if (value === undefined || value === 'false') return false;
  return value === 'true' || value.split(',');
}

const requiredInProduction = (variable: 'API_KEYS' | 'COCKPIT_SECRET') =>
  `${variable} is required when NODE_ENV=production: ${EnvSchema.properties[variable].description}`;

/** Reads and checks the environment; throws a ConfigError naming every bad variable. */
export function loadConfig(source: Record<string, string | undefined>, { terminal = false }: LoadConfigOptions = {}): Config {
  const known = Object.keys(EnvSchema.properties);
  const env: Record<string, unknown> = Object.fromEntries(
    Object.entries(source).filter(([name, value]) => known.includes(name) && value !== undefined && value !== ''),
  );
  if (!validateEnv(env)) {
    throw new ConfigError((validateEnv.errors ?? []).map(describeProblem));
  }
  const production = env.NODE_ENV === 'production';
  // Outside production a missing secret is generated for the run, so the service never runs open.
  const missing = (['API_KEYS', 'COCKPIT_SECRET'] as const).filter((variable) => production && !env[variable]);
  if (missing.length > 0) throw new ConfigError(missing.map(requiredInProduction));
  const shortSecrets =
    production && env.API_KEYS ? parseApiKeys(env.API_KEYS).filter(({ secret }) => secret.length < SECRET_MIN_LENGTH) : [];
  if (shortSecrets.length > 0) {
    throw new ConfigError(
      shortSecrets.map(
        ({ appId }) =>
          `API_KEYS: the secret of ${appId} must be at least ${SECRET_MIN_LENGTH} characters when NODE_ENV=production, e.g. the output of \`openssl rand -hex 24\``,
      ),
    );
  }

  let apiKeys: ApiKey[];
  let generatedApiKey: ApiKey | undefined;
  if (env.API_KEYS) {
    apiKeys = parseApiKeys(env.API_KEYS);
  } else {
    generatedApiKey = { appId: `app_${randomBytes(8).toString('hex')}`, secret: randomBytes(24).toString('hex') };
    apiKeys = [generatedApiKey];
  }
  const publicUrl = (env.PUBLIC_URL ?? `http://localhost:${env.PORT}`).replace(/\/+$/, '');
  const database: DatabaseConfig = env.DATABASE_URL
    ? { kind: 'postgres', url: env.DATABASE_URL }
    : { kind: 'embedded', dataDir: resolve(env.DATA_DIR) };
  return {
    production,
    database,
    databasePool: {
      size: env.DATABASE_POOL_SIZE,
      connectTimeoutMs: env.DATABASE_CONNECT_TIMEOUT_MS,
      statementTimeoutMs: env.DATABASE_STATEMENT_TIMEOUT_MS,
    },
    host: env.HOST,
    port: env.PORT,
    http: {
      requestTimeoutMs: env.REQUEST_TIMEOUT_MS,
      connectionTimeoutMs: env.CONNECTION_TIMEOUT_MS,
      maxConnections: env.MAX_CONNECTIONS,
    },
    logLevel: env.LOG_LEVEL,
    prettyLogs: (env.LOG_FORMAT ?? (terminal ? 'pretty' : 'json')) === 'pretty',
    publicUrl,
    projectId: env.PROJECT_ID,
    apiKeys,
    generatedApiKey,
    jobs: {
      worker: env.WORKER_ENABLED,
      concurrency: env.WORKER_CONCURRENCY,
      nice: env.WORKER_NICE,
      pollSeconds: env.WORKER_POLL_SECONDS,
      batchSize: env.JOB_BATCH_SIZE,
      importLanes: database.kind === 'embedded' ? 1 : env.JOB_IMPORT_LANES,
      timeoutSeconds: env.JOB_TIMEOUT_SECONDS,
      retries: env.JOB_RETRIES,
      reportRetentionHours: env.ASYNC_ACTION_REPORT_RETENTION_HOURS,
      exports: {
        maxPending: env.EXPORT_MAX_PENDING,
        timeoutSeconds: env.EXPORT_TIMEOUT_SECONDS,
        retentionHours: env.EXPORT_RETENTION_HOURS,
      },
    },
    webhooks: {
      allowPrivateUrls: env.WEBHOOK_ALLOW_PRIVATE_URLS,
      allowHttp: env.WEBHOOK_ALLOW_HTTP ?? !production,
      timeoutMs: env.WEBHOOK_TIMEOUT_MS,
      retryBaseMs: env.WEBHOOK_RETRY_BASE_MS,
      retryMaxMs: env.WEBHOOK_RETRY_MAX_MS,
      disableAfterMs: env.WEBHOOK_DISABLE_AFTER_MS,
      pollMs: env.WEBHOOK_POLL_MS,
      concurrency: env.WEBHOOK_CONCURRENCY,
    },
    cockpitSecret: env.COCKPIT_SECRET ?? randomBytes(32).toString('hex'),
    cockpitSecretGenerated: !env.COCKPIT_SECRET,
    cockpitPreviousSecrets: env.COCKPIT_PREVIOUS_SECRETS?.split(',') ?? [],
    cockpitLinkTtlHours: env.COCKPIT_LINK_TTL_HOURS,
    rateLimitPerMinute: env.RATE_LIMIT_PER_MINUTE,
    idempotencyKeyTtlSeconds: env.IDEMPOTENCY_KEY_TTL_SECONDS,
    authFailureLimits: {
      perAddress: env.AUTH_FAILURES_PER_MINUTE_PER_ADDRESS,
      perAppId: env.AUTH_FAILURES_PER_MINUTE_PER_APP,
    },
    trustProxy: parseTrustProxy(env.TRUST_PROXY),
    healthReadyCacheMs: env.HEALTH_READY_CACHE_MS,
    metricsToken: env.METRICS_TOKEN,
  };
}
