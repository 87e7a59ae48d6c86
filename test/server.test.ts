import { execFile } from 'node:child_process';
import http from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { APP_ID, APP_SECRET } from './support/app.js';
import { lockCustomer } from './support/barriers.js';
import { copyTemplateDatabase } from './support/database.js';
import { startServerProcess, type ServerProcess } from './support/server-process.js';
import { until } from './support/wait.js';

const credentials = { COCKPIT_SECRET: 'server-test-cockpit-secret-0123456789' };
const headers = { 'X-App-Id': APP_ID, 'X-App-Token': APP_SECRET, 'Content-Type': 'application/json' };

// The tests run what `npm run build` produces, as the image and `npm start` do.
beforeAll(async () => {
  await promisify(execFile)('npx', ['tsc', '-p', 'tsconfig.build.json']);
}, 120_000);

interface Outcome {
  sentAt: number;
  doneAt: number;
  status?: number;
  /** The response's Connection header. */
  connection?: string;
  error?: string;
}

/** One request on `agent`; `sentAt` is when its last byte was handed to the socket. */
function send(agent: http.Agent, origin: string, method: string, path: string, body?: unknown): Promise<Outcome> {
  return new Promise((resolve) => {
    let sentAt = Number.NaN;
    const request = http.request(`${origin}${path}`, { method, headers, agent }, (response) => {
      response.resume();
      response.on('end', () =>
        resolve({ sentAt, doneAt: performance.now(), status: response.statusCode, connection: response.headers.connection }),
      );
      response.on('error', (error) => resolve({ sentAt, doneAt: performance.now(), error: error.message }));
    });
    request.on('finish', () => (sentAt = performance.now()));
    request.on('error', (error) => resolve({ sentAt, doneAt: performance.now(), error: error.message }));
    request.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

// The barrier is a row lock held from a second database session; the embedded database has one.
const embedded = inject('testDatabase').kind === 'embedded';
if (embedded)
  console.warn(
    'Skipping the shutdown-under-load test: it holds a row lock from a second session, which the embedded database does not have.',
  );

describe.skipIf(embedded)('graceful shutdown', () => {
  let database: { env: Record<string, string>; drop: () => Promise<void> };
  let server: ServerProcess | undefined;
  beforeAll(async () => {
    database = await copyTemplateDatabase(inject('testDatabase'));
  });
  afterAll(async () => {
    server?.process.kill('SIGKILL');
    await database.drop();
  });

  it('on SIGTERM under load, finishes every request sent before the signal, one held at a row lock across it, and exits 0 before its 10 s shutdown deadline', async () => {
    server = await startServerProcess({ ...database.env, ...credentials, RATE_LIMIT_PER_MINUTE: '0' }, { entry: 'built' });
    const { base: origin } = server;
    const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
    for (let index = 0; index < 50; index++) {
      expect((await send(agent, origin, 'POST', '/v1/customers', { name: `Seed ${index}` })).status).toBe(200);
    }
    // The barrier: a request that waits at the database, on a customer the test has locked, until
    // the server has begun to shut down.
    const created = await fetch(`${origin}/v1/customers`, { method: 'POST', headers, body: JSON.stringify({ name: 'Held' }) });
    const heldId = ((await created.json()) as { id: string }).id;
    const lock = await lockCustomer(database.env.DATABASE_URL!, heldId);

    const outcomes: Outcome[] = [];
    let signalAt = Number.POSITIVE_INFINITY;
    const worker = async (index: number) => {
      // Until the server is gone, or 2 s after the signal: reads and writes, mixed.
      for (let round = 0; performance.now() < signalAt + 2000; round++) {
        const outcome =
          (index + round) % 3 === 0
            ? await send(agent, origin, 'POST', '/v1/customers', { name: `Load ${index}-${round}` })
            : await send(agent, origin, 'GET', '/v1/customers?limit=100');
        outcomes.push(outcome);
        if (outcome.error) return;
      }
    };
    const workers = Array.from({ length: 16 }, (_, index) => worker(index));
    const heldAgent = new http.Agent({ keepAlive: false });
    const held = send(heldAgent, origin, 'PUT', `/v1/customers/${heldId}`, { name: 'Written after the signal' });
    await lock.waiters(1);
    await until(() => outcomes.length >= 50, 'the load to be answered 50 times');

    signalAt = performance.now();
    server.process.kill('SIGTERM');
    await server.logged('shutting down: finishing requests in flight');
    await lock.release();
    const heldOutcome = await held;
    await Promise.all(workers);
    const { code, at } = await server.exited;
    agent.destroy();

    expect(heldOutcome).toMatchObject({ status: 200 });
    expect(heldOutcome.sentAt).toBeLessThan(signalAt);
    const beforeSignal = outcomes.filter((outcome) => outcome.sentAt < signalAt);
    const inFlightAtSignal = beforeSignal.filter((outcome) => outcome.doneAt > signalAt);
    expect(beforeSignal.length).toBeGreaterThanOrEqual(50);
    expect(beforeSignal.filter((outcome) => outcome.status !== 200)).toEqual([]);
    expect(code).toBe(0);
    // Past its deadline the server exits 1: a clean exit is within it.
    expect(at - signalAt).toBeLessThan(10_000);
    // Logged just before the process exits: only the flush at exit can have written it.
    expect(server.output()).toContain('"msg":"stopped"');
    // A request sent after the signal either finds its connection closed or is answered in full.
    const answeredAfterSignal = outcomes.filter((outcome) => outcome.sentAt >= signalAt && !outcome.error);
    expect(answeredAfterSignal.filter((outcome) => outcome.status !== 200)).toEqual([]);
    console.log(
      `shutdown: ${beforeSignal.length + 1} requests sent before SIGTERM (${inFlightAtSignal.length + 1} in flight) all 200; ` +
        `${outcomes.length - beforeSignal.length} after it (${answeredAfterSignal.length} answered, ` +
        `${answeredAfterSignal.filter((outcome) => outcome.connection === 'close').length} with Connection: close); ` +
        `exit ${code} after ${Math.round(at - signalAt)} ms`,
    );
  });
});

describe('npm start without DATABASE_URL', () => {
  let dataDir: string;
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'cs-data-'));
  });
  afterAll(() => rm(dataDir, { recursive: true, force: true }));

  it('runs on the embedded database in DATA_DIR, migrated, and keeps its data across restarts', async () => {
    const env = { ...credentials, DATA_DIR: dataDir };
    const first = await startServerProcess(env, { entry: 'built' });
    expect(first.output()).toContain('using the embedded database (PGlite)');
    expect(first.output()).toContain('applied database migrations');
    const ready = await fetch(`${first.base}/health/ready`);
    expect(ready.status).toBe(200);
    const created = await fetch(`${first.base}/v1/customers`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ source_id: 'kept', name: 'Kept across restarts' }),
    });
    expect(created.status).toBe(200);
    const customer = await created.json();

    // A second service on the same data directory would corrupt it: it is refused.
    const second = await startServerProcess(env, { entry: 'built' }).catch((error: Error) => error);
    expect(second).toBeInstanceOf(Error);
    expect((second as Error).message).toContain(`The data directory ${dataDir} is in use by another running service`);

    expect(await first.stop()).toBe(0);

    const restarted = await startServerProcess(env, { entry: 'built' });
    try {
      expect(restarted.output()).not.toContain('applied database migrations');
      const read = await fetch(`${restarted.base}/v1/customers/kept`, { headers });
      expect(read.status).toBe(200);
      expect(await read.json()).toEqual(customer);
    } finally {
      expect(await restarted.stop()).toBe(0);
    }
  }, 180_000);
});

describe('logs in a terminal', () => {
  it('are readable lines rather than JSON with LOG_FORMAT=pretty', async () => {
    const database = await copyTemplateDatabase(inject('testDatabase'));
    const server = await startServerProcess({ ...database.env, ...credentials, LOG_FORMAT: 'pretty' }, { entry: 'built' });
    try {
      await fetch(`${server.base}/health/live`);
      expect(await server.stop()).toBe(0);
      const lines = server
        .output()
        .split('\n')
        .filter((line) => line.trim() !== '');
      expect(lines.some((line) => /INFO.*Server listening at http:\/\/127\.0\.0\.1:\d+/.test(line))).toBe(true);
      expect(lines.some((line) => /INFO.*request completed/.test(line))).toBe(true);
      expect(lines.filter((line) => line.startsWith('{'))).toEqual([]);
    } finally {
      server.process.kill('SIGKILL');
      await database.drop();
    }
  });
});

describe('npm start without API_KEYS or COCKPIT_SECRET (outside production)', () => {
  it('logs a generated key pair once, accepts only that pair, and warns that cockpit links end with the run', async () => {
    const database = await copyTemplateDatabase(inject('testDatabase'));
    const server = await startServerProcess({ ...database.env, API_KEYS: '' }, { entry: 'built' });
    try {
      const generated = [...server.output().matchAll(/X-App-Id: (app_[0-9a-f]{16}), X-App-Token: ([0-9a-f]{48})/g)];
      expect(generated).toHaveLength(1);
      const [, appId, secret] = generated[0]!;
      const list = (id: string, token: string) =>
        fetch(`${server.base}/v1/customers?limit=1`, { headers: { 'X-App-Id': id, 'X-App-Token': token } });
      expect((await list(appId!, secret!)).status).toBe(200);
      expect((await list(APP_ID, APP_SECRET)).status).toBe(401);
      expect(server.output()).toContain('COCKPIT_SECRET is not set');
      expect(await server.stop()).toBe(0);
    } finally {
      server.process.kill('SIGKILL');
      await database.drop();
    }
  });
});
