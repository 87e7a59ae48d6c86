import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../src/config.js';

const DATABASE_URL = 'postgresql://app@db:5432/customers';

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
    expect(loadConfig({ DATABASE_URL, API_KEYS: 'app:secret' })).toEqual({
      production: false,
      databaseUrl: DATABASE_URL,
      databasePool: { size: 10, connectTimeoutMs: 1000, statementTimeoutMs: 5000 },
      host: '0.0.0.0',
      port: 3000,
      logLevel: 'info',
      publicUrl: 'http://localhost:3000',
      apiKeys: [{ appId: 'app', secret: 'secret' }],
      generatedApiKey: undefined,
      jobs: { worker: true, concurrency: 1, pollSeconds: 2, batchSize: 1000, timeoutSeconds: 60, retries: 5 },
    });
  });

  it('reads the job variables', () => {
    const config = loadConfig({
      DATABASE_URL,
      API_KEYS: 'a:b',
      WORKER_ENABLED: 'false',
      WORKER_CONCURRENCY: '4',
      WORKER_POLL_SECONDS: '0.5',
      JOB_BATCH_SIZE: '250',
      JOB_TIMEOUT_SECONDS: '30',
      JOB_RETRIES: '0',
    });
    expect(config.jobs).toEqual({ worker: false, concurrency: 4, pollSeconds: 0.5, batchSize: 250, timeoutSeconds: 30, retries: 0 });
  });

  it('names bad job variables', () => {
    expect(
      problems({
        DATABASE_URL,
        API_KEYS: 'a:b',
        WORKER_ENABLED: 'sometimes',
        WORKER_CONCURRENCY: '0',
        WORKER_POLL_SECONDS: '0.1',
        JOB_BATCH_SIZE: 'many',
        JOB_TIMEOUT_SECONDS: '1',
        JOB_RETRIES: '-1',
      }),
    ).toEqual([
      'WORKER_ENABLED must be boolean',
      'WORKER_CONCURRENCY must be >= 1',
      'WORKER_POLL_SECONDS must be >= 0.5',
      'JOB_BATCH_SIZE must be integer',
      'JOB_TIMEOUT_SECONDS must be >= 3',
      'JOB_RETRIES must be >= 0',
    ]);
  });

  it('reads every variable', () => {
    const config = loadConfig({
      NODE_ENV: 'production',
      DATABASE_URL,
      HOST: '127.0.0.1',
      PORT: '8080',
      API_KEYS: 'one:s3cret:with:colons,two:other',
      LOG_LEVEL: 'debug',
      PUBLIC_URL: 'https://customers.example.com/',
    });
    expect(config).toMatchObject({
      production: true,
      host: '127.0.0.1',
      port: 8080,
      logLevel: 'debug',
      publicUrl: 'https://customers.example.com',
      apiKeys: [
        { appId: 'one', secret: 's3cret:with:colons' },
        { appId: 'two', secret: 'other' },
      ],
    });
  });

  it('treats an empty variable as unset', () => {
    expect(loadConfig({ DATABASE_URL, API_KEYS: 'a:b', PORT: '' }).port).toBe(3000);
  });

  it('names every bad variable at once', () => {
    expect(
      problems({ DATABASE_URL: 'mysql://x', PORT: '70000', LOG_LEVEL: 'loud', API_KEYS: 'no-secret', PUBLIC_URL: 'ftp://x' }),
    ).toEqual([
      'DATABASE_URL must be a PostgreSQL connection URL, e.g. postgresql://user@host:5432/db',
      'PORT must be <= 65535',
      'API_KEYS must be a list of appId:secret pairs, e.g. app1:secret1,app2:secret2',
      'LOG_LEVEL must be one of: fatal, error, warn, info, debug, trace, silent',
      'PUBLIC_URL must be an http(s) URL',
    ]);
  });

  it('requires DATABASE_URL', () => {
    expect(problems({ API_KEYS: 'a:b' })).toEqual([
      'DATABASE_URL is required: a PostgreSQL connection URL, e.g. postgresql://user@host:5432/db',
    ]);
  });

  it('rejects a port that is not a number', () => {
    expect(problems({ DATABASE_URL, API_KEYS: 'a:b', PORT: 'http' })).toEqual(['PORT must be integer']);
  });

  it('refuses to run in production without API_KEYS', () => {
    expect(problems({ DATABASE_URL, NODE_ENV: 'production' })).toEqual([
      'API_KEYS is required when NODE_ENV=production: a list of appId:secret pairs, e.g. app1:secret1,app2:secret2',
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
});
