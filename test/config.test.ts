import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';

const DATABASE_URL = 'postgresql://app@db:5432/customers';
const COCKPIT_SECRET = 'c'.repeat(32);

const problems = (env: Record<string, string>) => {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected a ConfigError');
};

describe('loadConfig', () => {
  it('fills in the defaults', () => {
    expect(loadConfig({ DATABASE_URL, API_KEYS: 'app:secret', COCKPIT_SECRET })).toEqual({
      production: false,
      database: { kind: 'postgres', url: DATABASE_URL },
      databasePool: { size: 10, connectTimeoutMs: 1000, statementTimeoutMs: 5000 },
      host: '0.0.0.0',
      port: 3000,
      http: { requestTimeoutMs: 60_000, connectionTimeoutMs: 120_000, maxConnections: 1000 },
      logLevel: 'info',
      prettyLogs: false,
      publicUrl: 'http://localhost:3000',
      projectId: 'default',
      apiKeys: [{ appId: 'app', secret: 'secret' }],
      generatedApiKey: undefined,
      jobs: {
        worker: true,
        concurrency: 1,
        nice: 10,
        pollSeconds: 2,
        batchSize: 1000,
        importLanes: 2,
        timeoutSeconds: 60,
        retries: 5,
        reportRetentionHours: 168,
        exports: { maxPending: 100, timeoutSeconds: 900, retentionHours: 168 },
      },
      webhooks: {
        allowPrivateUrls: false,
        allowHttp: true,
        timeoutMs: 10_000,
        retryBaseMs: 5000,
        retryMaxMs: 3_600_000,
        disableAfterMs: 3 * 86_400_000,
        pollMs: 250,
        concurrency: 200,
      },
      cockpitSecret: COCKPIT_SECRET,
      cockpitSecretGenerated: false,
      cockpitPreviousSecrets: [],
      cockpitLinkTtlHours: 168,
      rateLimitPerMinute: 6000,
      idempotencyKeyTtlSeconds: 86400,
      authFailureLimits: { perAddress: 30, perAppId: 300 },
      trustProxy: false,
      healthReadyCacheMs: 1000,
      metricsToken: undefined,
    });
  });

  it('refuses http:// webhook URLs in production unless WEBHOOK_ALLOW_HTTP is set', () => {
    const production = { DATABASE_URL, API_KEYS: `app:${'s'.repeat(32)}`, COCKPIT_SECRET, NODE_ENV: 'production' };
    expect(loadConfig(production).webhooks.allowHttp).toBe(false);
    expect(loadConfig({ ...production, WEBHOOK_ALLOW_HTTP: 'true' }).webhooks.allowHttp).toBe(true);
    expect(
      loadConfig({ DATABASE_URL, API_KEYS: 'app:secret', COCKPIT_SECRET, WEBHOOK_ALLOW_HTTP: 'false' }).webhooks.allowHttp,
    ).toBe(false);
  });

  it('bases the default PUBLIC_URL on PORT', () => {
    expect(loadConfig({ DATABASE_URL, API_KEYS: 'app:secret', COCKPIT_SECRET, PORT: '8080' }).publicUrl).toBe(
      'http://localhost:8080',
    );
  });

  it('applies an import in one lane on the embedded database, which has one connection', () => {
    expect(loadConfig({ API_KEYS: 'a:b', JOB_IMPORT_LANES: '4' }).jobs.importLanes).toBe(1);
    expect(loadConfig({ DATABASE_URL, API_KEYS: 'a:b', JOB_IMPORT_LANES: '4' }).jobs.importLanes).toBe(4);
  });

  it('reads the job variables', () => {
    const config = loadConfig({
      DATABASE_URL,
      API_KEYS: 'a:b',
      WORKER_ENABLED: 'false',
      WORKER_CONCURRENCY: '4',
      WORKER_NICE: '0',
      WORKER_POLL_SECONDS: '0.5',
      JOB_BATCH_SIZE: '250',
      JOB_IMPORT_LANES: '3',
      JOB_TIMEOUT_SECONDS: '30',
      JOB_RETRIES: '0',
      ASYNC_ACTION_REPORT_RETENTION_HOURS: '24',
      EXPORT_MAX_PENDING: '5',
      EXPORT_TIMEOUT_SECONDS: '120',
      EXPORT_RETENTION_HOURS: '48',
    });
    expect(config.jobs).toEqual({
      worker: false,
      concurrency: 4,
      nice: 0,
      pollSeconds: 0.5,
      batchSize: 250,
      importLanes: 3,
      timeoutSeconds: 30,
      retries: 0,
      reportRetentionHours: 24,
      exports: { maxPending: 5, timeoutSeconds: 120, retentionHours: 48 },
    });
  });

  it('names bad job variables', () => {
    expect(
      problems({
        DATABASE_URL,
        API_KEYS: 'a:b',
        WORKER_ENABLED: 'sometimes',
        WORKER_CONCURRENCY: '0',
        WORKER_NICE: '20',
        WORKER_POLL_SECONDS: '0.1',
        JOB_BATCH_SIZE: 'many',
        JOB_IMPORT_LANES: '9',
        JOB_TIMEOUT_SECONDS: '1',
        JOB_RETRIES: '-1',
        ASYNC_ACTION_REPORT_RETENTION_HOURS: '0',
        EXPORT_MAX_PENDING: '0',
        EXPORT_TIMEOUT_SECONDS: '2',
        EXPORT_RETENTION_HOURS: '0',
      }),
    ).toEqual([
      'WORKER_ENABLED must be boolean',
      'WORKER_CONCURRENCY must be >= 1',
      'WORKER_NICE must be <= 19',
      'WORKER_POLL_SECONDS must be >= 0.5',
      'JOB_BATCH_SIZE must be integer',
      'JOB_IMPORT_LANES must be <= 8',
      'JOB_TIMEOUT_SECONDS must be >= 3',
      'JOB_RETRIES must be >= 0',
      'ASYNC_ACTION_REPORT_RETENTION_HOURS must be >= 1',
      'EXPORT_MAX_PENDING must be >= 1',
      'EXPORT_TIMEOUT_SECONDS must be >= 3',
      'EXPORT_RETENTION_HOURS must be >= 1',
    ]);
  });

  it('reads every variable', () => {
    const config = loadConfig({
      NODE_ENV: 'production',
      DATABASE_URL,
      HOST: '127.0.0.1',
      PORT: '8080',
      API_KEYS: `one:s3cret:with:colons-${'1'.repeat(32)},two:${'2'.repeat(32)}`,
      COCKPIT_SECRET,
      COCKPIT_PREVIOUS_SECRETS: `${'p'.repeat(32)},${'q'.repeat(40)}`,
      COCKPIT_LINK_TTL_HOURS: '24',
      RATE_LIMIT_PER_MINUTE: '120',
      LOG_LEVEL: 'debug',
      LOG_FORMAT: 'pretty',
      PUBLIC_URL: 'https://customers.example.com/',
      REQUEST_TIMEOUT_MS: '5000',
      CONNECTION_TIMEOUT_MS: '9000',
      MAX_CONNECTIONS: '50',
      AUTH_FAILURES_PER_MINUTE_PER_ADDRESS: '7',
      AUTH_FAILURES_PER_MINUTE_PER_APP: '70',
      TRUST_PROXY: '10.0.0.0/8,127.0.0.1',
    });
    expect(config).toMatchObject({
      production: true,
      host: '127.0.0.1',
      port: 8080,
      http: { requestTimeoutMs: 5000, connectionTimeoutMs: 9000, maxConnections: 50 },
      logLevel: 'debug',
      prettyLogs: true,
      publicUrl: 'https://customers.example.com',
      apiKeys: [
        { appId: 'one', secret: `s3cret:with:colons-${'1'.repeat(32)}` },
        { appId: 'two', secret: '2'.repeat(32) },
      ],
      cockpitSecret: COCKPIT_SECRET,
      cockpitPreviousSecrets: ['p'.repeat(32), 'q'.repeat(40)],
      cockpitLinkTtlHours: 24,
      rateLimitPerMinute: 120,
      authFailureLimits: { perAddress: 7, perAppId: 70 },
      trustProxy: ['10.0.0.0/8', '127.0.0.1'],
    });
  });

  it('reads how long idempotency keys are kept', () => {
    expect(loadConfig({ DATABASE_URL, API_KEYS: 'a:b', IDEMPOTENCY_KEY_TTL_SECONDS: '3600' }).idempotencyKeyTtlSeconds).toBe(
      3600,
    );
    expect(() => loadConfig({ DATABASE_URL, API_KEYS: 'a:b', IDEMPOTENCY_KEY_TTL_SECONDS: '0' })).toThrow(
      'IDEMPOTENCY_KEY_TTL_SECONDS must be >= 1',
    );
  });

  it('refuses a former cockpit secret shorter than a secret may be, and a link lifetime under an hour', () => {
    expect(problems({ DATABASE_URL, COCKPIT_PREVIOUS_SECRETS: `${'p'.repeat(32)},short`, COCKPIT_LINK_TTL_HOURS: '0' })).toEqual([
      'COCKPIT_PREVIOUS_SECRETS must be a comma-separated list of former COCKPIT_SECRET values (each at least 32 characters), whose links still work until they expire',
      'COCKPIT_LINK_TTL_HOURS must be >= 1',
    ]);
  });

  it('treats an empty variable as unset', () => {
    expect(loadConfig({ DATABASE_URL, API_KEYS: 'a:b', PORT: '' }).port).toBe(3000);
  });

  it('names every bad variable at once', () => {
    expect(
      problems({
        DATABASE_URL: 'mysql://x',
        PORT: '70000',
        LOG_LEVEL: 'loud',
        LOG_FORMAT: 'xml',
        API_KEYS: 'no-secret',
        COCKPIT_SECRET: 'short',
        RATE_LIMIT_PER_MINUTE: '-1',
        PUBLIC_URL: 'ftp://x',
      }),
    ).toEqual([
      'DATABASE_URL must be a PostgreSQL connection URL, e.g. postgresql://user@host:5432/db',
      'PORT must be <= 65535',
      'API_KEYS must be a list of appId:secret pairs, e.g. app1:secret1,app2:secret2',
      'COCKPIT_SECRET must be a random string of at least 32 characters, e.g. the output of `openssl rand -hex 32`',
      'RATE_LIMIT_PER_MINUTE must be >= 0',
      'LOG_LEVEL must be one of: fatal, error, warn, info, debug, trace, silent',
      'LOG_FORMAT must be one of: json, pretty',
      'PUBLIC_URL must be an http(s) URL',
    ]);
  });

  it('rejects a port or a rate limit that is not a number', () => {
    expect(problems({ DATABASE_URL, API_KEYS: 'a:b', PORT: 'http', RATE_LIMIT_PER_MINUTE: 'lots' })).toEqual([
      'PORT must be integer',
      'RATE_LIMIT_PER_MINUTE must be integer',
    ]);
  });

  it('without DATABASE_URL, uses the embedded database in DATA_DIR, ./data by default', () => {
    expect(loadConfig({}).database).toEqual({ kind: 'embedded', dataDir: resolve('data') });
    expect(loadConfig({ DATA_DIR: '/var/lib/customers' }).database).toEqual({
      kind: 'embedded',
      dataDir: '/var/lib/customers',
    });
  });

  it('writes readable logs to a terminal and JSON elsewhere, unless LOG_FORMAT says otherwise', () => {
    expect(loadConfig({}, { terminal: true }).prettyLogs).toBe(true);
    expect(loadConfig({}, { terminal: false }).prettyLogs).toBe(false);
    expect(loadConfig({ LOG_FORMAT: 'json' }, { terminal: true }).prettyLogs).toBe(false);
    expect(loadConfig({ LOG_FORMAT: 'pretty' }, { terminal: false }).prettyLogs).toBe(true);
  });

  it('refuses to run in production without API_KEYS or COCKPIT_SECRET', () => {
    expect(problems({ DATABASE_URL, NODE_ENV: 'production' })).toEqual([
      'API_KEYS is required when NODE_ENV=production: a list of appId:secret pairs, e.g. app1:secret1,app2:secret2',
      'COCKPIT_SECRET is required when NODE_ENV=production: a random string of at least 32 characters, e.g. the output of `openssl rand -hex 32`',
    ]);
    expect(problems({ NODE_ENV: 'production', API_KEYS: 'a:b' })).toHaveLength(1);
  });

  it('refuses API secrets shorter than 32 characters in production, naming their app ids', () => {
    expect(
      problems({
        DATABASE_URL,
        NODE_ENV: 'production',
        COCKPIT_SECRET,
        API_KEYS: `short:b,long:${'x'.repeat(32)},almost:${'y'.repeat(31)}`,
      }),
    ).toEqual([
      'API_KEYS: the secret of short must be at least 32 characters when NODE_ENV=production, e.g. the output of `openssl rand -hex 24`',
      'API_KEYS: the secret of almost must be at least 32 characters when NODE_ENV=production, e.g. the output of `openssl rand -hex 24`',
    ]);
    expect(loadConfig({ DATABASE_URL, API_KEYS: 'short:b' }).apiKeys).toEqual([{ appId: 'short', secret: 'b' }]);
  });

  it('reads TRUST_PROXY as true, false or a list of addresses, and refuses anything else', () => {
    expect(loadConfig({ DATABASE_URL, TRUST_PROXY: 'true' }).trustProxy).toBe(true);
    expect(loadConfig({ DATABASE_URL, TRUST_PROXY: 'false' }).trustProxy).toBe(false);
    expect(loadConfig({ DATABASE_URL }).trustProxy).toBe(false);
    expect(problems({ DATABASE_URL, TRUST_PROXY: 'yes please' })).toEqual([
      'TRUST_PROXY must be true, false, or a comma-separated list of proxy addresses or CIDR ranges, e.g. 10.0.0.0/8,127.0.0.1',
    ]);
  });

  it('outside production without API_KEYS, generates a random pair for this run', () => {
    const first = loadConfig({ DATABASE_URL });
    const second = loadConfig({ DATABASE_URL });
    expect(first.generatedApiKey).toEqual({
      appId: expect.stringMatching(/^app_[0-9a-f]{16}$/),
      secret: expect.stringMatching(/^[0-9a-f]{48}$/),
    });
    expect(first.apiKeys).toEqual([first.generatedApiKey]);
    expect(second.generatedApiKey).not.toEqual(first.generatedApiKey);
  });

  it('outside production without COCKPIT_SECRET, generates a random one for this run', () => {
    const first = loadConfig({ DATABASE_URL });
    const second = loadConfig({ DATABASE_URL });
    expect(first.cockpitSecret).toMatch(/^[0-9a-f]{64}$/);
    expect(first.cockpitSecretGenerated).toBe(true);
    expect(second.cockpitSecret).not.toBe(first.cockpitSecret);
  });
});
