/**
 * Webhook benchmark: writes at a fixed rate through the running service, first with no webhook
 * endpoint, then with two (a healthy receiver and a flaky one), all in the same run.
 *
 *   npm run bench:webhooks                          # 500 writes/s for 60 s in each phase
 *   npm run bench:webhooks -- --rate 300 --seconds 20 --customers 2000
 *
 * Reports the healthy endpoint's delivery lag (receipt - event created_at, p50/p99), how long the
 * flaky endpoint's backlog takes to drain once the writes stop, the server's memory, and the
 * write path with endpoints against without: at the fixed rate (achieved rate, latency) and at
 * saturation (16 writers back to back, --saturation-seconds each, in --saturation-rounds rounds:
 * the median ratio), and where the CPU went; then the same saturation rounds with an independent
 * reference deliverer (bench/reference-deliverer.ts) in the worker's place (--reference-rounds).
 * Deliveries run in an `npm run worker` process beside a server that only serves, or with
 * `--deliveries server` in the server's own worker (retries: see RETRY_BASE_MS). Needs a PostgreSQL server whose role may
 * create databases: BENCH_DATABASE_URL, default postgresql://postgres@127.0.0.1:5432/postgres.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import {
  adminQuery,
  cpuSeconds,
  databaseUrl,
  freePort,
  median,
  residentBytes,
  SERVICE_COMMAND,
  untilServing,
} from './support.js';

const { values: args } = parseArgs({
  options: {
    rate: { type: 'string', default: '500' },
    seconds: { type: 'string', default: '60' },
    customers: { type: 'string', default: '5000' },
    'saturation-seconds': { type: 'string', default: '15' },
    'saturation-rounds': { type: 'string', default: '3' },
    'reference-rounds': { type: 'string', default: '3' },
    deliveries: { type: 'string', default: 'worker' },
  },
});
const RATE = Number(args.rate);
const SECONDS = Number(args.seconds);
const CUSTOMERS = Number(args.customers);
const SATURATION_SECONDS = Number(args['saturation-seconds']);
const SATURATION_WRITERS = 16;
/**
 * Saturation rounds, each without then with endpoints: the first in the run's flow above, each
 * further one after the drain, with the endpoints deleted for its "without" half and two fresh ones
 * (same receivers) for its "with" half. The ratio reported is the median of the rounds' ratios:
 * one 15 s round on this shared machine swings by a tenth either way.
 */
const SATURATION_ROUNDS = Number(args['saturation-rounds']);
/**
 * Saturation rounds with the independent reference (bench/reference-deliverer.ts: the least a
 * process can do to POST every event to both receivers) in the service's worker's place, after
 * the service's rounds, with no endpoint: what any delivery costs the write path on this machine,
 * receivers included. The reference reads events by (created_at, id), on an index this benchmark
 * adds before these rounds (so both their halves pay for it).
 */
const REFERENCE_ROUNDS = Number(args['reference-rounds']);
/**
 * Where deliveries run: `worker`, in an `npm run worker` process beside a server that only serves
 * (WORKER_ENABLED=false), at that process's own lower CPU priority (WORKER_NICE); or `server`, in
 * the server's own worker.
 */
const DELIVERIES = args.deliveries;
if (DELIVERIES !== 'worker' && DELIVERIES !== 'server') throw new Error('--deliveries is worker or server');
/**
 * The flaky endpoint's retries: shorter than the defaults (5 s doubling up to an hour), under
 * which one event of ten thousand waits minutes for its sixth try, so the drain time would
 * measure the schedule instead of the service. BENCH_WEBHOOK_RETRY_BASE_MS / _MAX_MS change them.
 */
const RETRY_BASE_MS = process.env.BENCH_WEBHOOK_RETRY_BASE_MS ?? '1000';
const RETRY_MAX_MS = process.env.BENCH_WEBHOOK_RETRY_MAX_MS ?? '10000';

const projectRoot = fileURLToPath(new URL('..', import.meta.url));
const APP = { 'X-App-Id': 'bench', 'X-App-Token': randomBytes(24).toString('hex') };
const JSON_APP = { ...APP, 'Content-Type': 'application/json' };
const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MiB`;

const percentileOf = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
};

/** A receiver: the time each event was first answered 200, and how the lag went. */
async function startReceiver(decide: (eventId: string, attempt: number) => number | 'drop') {
  const firstOk = new Map<string, number>();
  const lags: number[] = [];
  const attempts = new Map<string, number>();
  let requests = 0;
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      requests += 1;
      const eventId = String(request.headers['webhook-id']);
      const attempt = (attempts.get(eventId) ?? 0) + 1;
      attempts.set(eventId, attempt);
      const answer = decide(eventId, attempt);
      if (answer === 'drop') return request.socket.destroy();
      if (answer === 200 && !firstOk.has(eventId)) {
        const now = Date.now();
        firstOk.set(eventId, now);
        const { created_at: createdAt } = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { created_at: string };
        lags.push(now - Date.parse(createdAt));
      }
      response.writeHead(answer).end();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`,
    firstOk,
    lags,
    requests: () => requests,
    close: () => {
      server.closeAllConnections();
      server.close();
    },
  };
}

/** 20% answered 500, 10% of connections dropped, chosen by event id and attempt. */
const flakyAnswer = (eventId: string, attempt: number) => {
  const roll = createHash('sha256').update(`${eventId}:${attempt}`).digest().readUInt32BE(0) % 100;
  return roll < 20 ? 500 : roll < 30 ? 'drop' : 200;
};

interface WriteStats {
  sent: number;
  ok: number;
  failed: number;
  skipped: number;
  seconds: number;
  latencies: number[];
}

/** One write: an update of a random customer. */
async function write(base: string, ids: string[], stats: WriteStats) {
  const id = ids[Math.floor(Math.random() * ids.length)]!;
  const started = performance.now();
  stats.sent += 1;
  const response = await fetch(`${base}/v1/customers/${id}`, {
    method: 'PUT',
    headers: JSON_APP,
    body: JSON.stringify({ metadata: { n: stats.sent, at: Date.now() } }),
  }).catch(() => undefined);
  await response?.arrayBuffer();
  if (response?.status === 200) {
    stats.ok += 1;
    stats.latencies.push(performance.now() - started);
  } else stats.failed += 1;
}

/** Offers `rate` writes a second for `seconds` (open loop: late answers do not slow the offer; at most 512 in flight). */
async function writeAtRate(base: string, ids: string[], rate: number, seconds: number): Promise<WriteStats> {
  const stats: WriteStats = { sent: 0, ok: 0, failed: 0, skipped: 0, seconds, latencies: [] };
  const inFlight = new Set<Promise<void>>();
  const started = performance.now();
  let offered = 0;
  while (performance.now() - started < seconds * 1000) {
    const due = Math.floor(((performance.now() - started) / 1000) * rate);
    for (; offered < due; offered += 1) {
      if (inFlight.size >= 512) {
        stats.skipped += 1;
        continue;
      }
      const one = write(base, ids, stats).finally(() => inFlight.delete(one));
      inFlight.add(one);
    }
    await sleep(5);
  }
  await Promise.all(inFlight);
  stats.seconds = (performance.now() - started) / 1000;
  return stats;
}

/** Writers back to back for `seconds`: the most the write path takes. */
async function writeSaturated(base: string, ids: string[], seconds: number): Promise<WriteStats> {
  const stats: WriteStats = { sent: 0, ok: 0, failed: 0, skipped: 0, seconds, latencies: [] };
  const started = performance.now();
  await Promise.all(
    Array.from({ length: SATURATION_WRITERS }, async () => {
      while (performance.now() - started < seconds * 1000) await write(base, ids, stats);
    }),
  );
  stats.seconds = (performance.now() - started) / 1000;
  return stats;
}

/**
 * Where the CPU went during some work: the server process, the worker process (if any), this
 * process (writers and receivers), and the rest (PostgreSQL, mostly).
 */
async function cpuDuring<T>(
  pids: { server: number; worker?: number },
  work: () => Promise<T>,
): Promise<{ value: T; cpu: { server: number; worker: number; bench: number; rest: number } }> {
  const processes = [pids.server, ...(pids.worker === undefined ? [] : [pids.worker])];
  const before = await cpuSeconds(processes);
  const value = await work();
  const after = await cpuSeconds(processes);
  const [server = 0, worker = 0] = after.processes.map((seconds, index) => seconds - before.processes[index]!);
  const bench = after.bench - before.bench;
  return { value, cpu: { server, worker, bench, rest: after.machine - before.machine - server - worker - bench } };
}

const describeCpu = ({ value: stats, cpu }: Awaited<ReturnType<typeof cpuDuring<WriteStats>>>) => {
  const perWrite = (seconds: number) => `${((seconds / stats.ok) * 1e6).toFixed(0)} µs`;
  const inAll = cpu.server + cpu.worker + cpu.bench + cpu.rest;
  return (
    `  CPU per write answered: server ${perWrite(cpu.server)}, worker ${perWrite(cpu.worker)}, this process (writers, receivers) ${perWrite(cpu.bench)}, ` +
    `the rest (PostgreSQL) ${perWrite(cpu.rest)}; in all ${(inAll / stats.seconds).toFixed(2)} of 2 cores`
  );
};

const writesPerSecond = (stats: WriteStats) => stats.ok / stats.seconds;

const describeWrites = (stats: WriteStats) =>
  `${(stats.ok / stats.seconds).toFixed(0)} writes/s answered 200 (${stats.ok} of ${stats.sent} sent, ${stats.failed} failed, ${stats.skipped} not sent: 512 in flight), ` +
  `latency p50 ${percentileOf(stats.latencies, 50).toFixed(1)} ms, p99 ${percentileOf(stats.latencies, 99).toFixed(1)} ms`;

/** Samples a process's RSS until stopped: the peak and the last sample. */
function sampleMemory(pid: number) {
  let peak = 0;
  let last = 0;
  let sampling = true;
  const done = (async () => {
    while (sampling) {
      last = await residentBytes(pid);
      peak = Math.max(peak, last);
      await sleep(250);
    }
  })();
  return {
    async stop() {
      sampling = false;
      await done;
      return { peak, last };
    },
  };
}

/** Registers an endpoint for each receiver (it follows the feed from its end): their ids. */
async function createEndpoints(base: string, receivers: Array<{ url: string }>): Promise<string[]> {
  const ids: string[] = [];
  for (const receiver of receivers) {
    const response = await fetch(`${base}/v1/webhooks`, {
      method: 'POST',
      headers: JSON_APP,
      body: JSON.stringify({ url: receiver.url }),
    });
    if (response.status !== 200) throw new Error(`webhook create: ${response.status} ${await response.text()}`);
    ids.push(((await response.json()) as { id: string }).id);
  }
  return ids;
}

async function deleteEndpoints(base: string, ids: string[]) {
  for (const id of ids) {
    const response = await fetch(`${base}/v1/webhooks/${id}`, { method: 'DELETE', headers: APP });
    if (response.status !== 204) throw new Error(`webhook delete: ${response.status} ${await response.text()}`);
  }
}

/** Deliveries running for a saturation round's second half: the processes whose CPU to count, and how to stop them. */
interface Deliveries {
  pids: { server: number; worker?: number };
  stop(): Promise<void>;
}

/** A saturation round's two halves, and the webhook requests received during the second. */
interface SaturationRound {
  without: Awaited<ReturnType<typeof cpuDuring<WriteStats>>>;
  with: Awaited<ReturnType<typeof cpuDuring<WriteStats>>>;
  requests: number;
}

/**
 * Prints saturation rounds (without, then with `deliveries`) and their median ratio, with the CPU
 * per webhook request of the `deliverer` process (the worker column) when there is one: the ratios.
 */
function reportRounds(
  rounds: SaturationRound[],
  deliveries: string,
  note: (index: number) => string,
  deliverer: string | undefined,
): number[] {
  const ratios: number[] = [];
  for (const [index, round] of rounds.entries()) {
    console.log(
      `\nSaturated (${SATURATION_WRITERS} writers, ${SATURATION_SECONDS} s), round ${index + 1} of ${rounds.length}${note(index)}, ` +
        `without ${deliveries}: ${describeWrites(round.without.value)}`,
    );
    console.log(describeCpu(round.without));
    console.log(`  with ${deliveries}: ${describeWrites(round.with.value)}`);
    console.log(describeCpu(round.with));
    console.log(
      `  webhook requests received meanwhile: ${round.requests} (${(round.requests / round.with.value.ok).toFixed(2)} per write)` +
        (deliverer ? `; ${deliverer} CPU per request ${((round.with.cpu.worker / round.requests) * 1e6).toFixed(0)} µs` : ''),
    );
    ratios.push(writesPerSecond(round.with.value) / writesPerSecond(round.without.value));
    console.log(`  ratio with / without: ${ratios.at(-1)!.toFixed(2)}x`);
  }
  if (ratios.length > 0) {
    console.log(
      `Saturated, ratio with / without ${deliveries} over ${ratios.length} rounds: median ${median(ratios).toFixed(2)}x ` +
        `(${ratios.map((ratio) => ratio.toFixed(2)).join(', ')})`,
    );
  }
  return ratios;
}

/** Starts the reference deliverer (REFERENCE_ROUNDS) posting to `receivers`; resolves once it is ready. */
async function startReferenceDeliverer(url: string, receivers: Array<{ url: string }>): Promise<ChildProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bench/reference-deliverer.ts'], {
    cwd: projectRoot,
    env: { ...process.env, DATABASE_URL: url, RECEIVER_URLS: receivers.map((receiver) => receiver.url).join(',') },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let said = '';
  for await (const chunk of child.stdout!) {
    said += String(chunk);
    if (said.includes('reference deliverer ready')) break;
  }
  if (!said.includes('reference deliverer ready')) throw new Error(`the reference deliverer did not start: ${said}`);
  child.stdout!.resume();
  return child;
}

async function stopChild(child: ChildProcess) {
  if (child.exitCode !== null) return;
  child.kill('SIGTERM');
  await once(child, 'exit');
}

async function main() {
  const name = `bench_webhooks_${randomBytes(6).toString('hex')}`;
  const url = databaseUrl(name);
  let server: ChildProcess | undefined;
  let worker: ChildProcess | undefined;
  const receivers: Array<{ close(): void }> = [];
  await adminQuery(`CREATE DATABASE ${name}`);
  try {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    const env = {
      ...process.env,
      NODE_ENV: 'production',
      DATABASE_URL: url,
      // Bursts of the open-loop writer wait for a connection instead of failing at once.
      DATABASE_CONNECT_TIMEOUT_MS: '5000',
      PORT: String(port),
      HOST: '127.0.0.1',
      API_KEYS: `${APP['X-App-Id']}:${APP['X-App-Token']}`,
      COCKPIT_SECRET: randomBytes(32).toString('hex'),
      RATE_LIMIT_PER_MINUTE: '0',
      WEBHOOK_ALLOW_PRIVATE_URLS: 'true',
      WEBHOOK_ALLOW_HTTP: 'true',
      WEBHOOK_RETRY_BASE_MS: RETRY_BASE_MS,
      WEBHOOK_RETRY_MAX_MS: RETRY_MAX_MS,
      LOG_LEVEL: 'warn',
    };
    server = spawn(process.execPath, SERVICE_COMMAND, {
      cwd: projectRoot,
      env: { ...env, WORKER_ENABLED: String(DELIVERIES === 'server') },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    await untilServing(server, `${base}/v1/customer-events?limit=1`, APP);
    if (DELIVERIES === 'worker') {
      worker = spawn(process.execPath, [...SERVICE_COMMAND, 'worker'], {
        cwd: projectRoot,
        env,
        stdio: ['ignore', 'inherit', 'inherit'],
      });
    }
    const pid = server.pid!;
    const pids = { server: pid, worker: worker?.pid };
    const db = new pg.Client({ connectionString: url });
    await db.connect();

    console.log(
      `Webhooks: ${RATE} writes/s offered for ${SECONDS} s per phase, updates of ${CUSTOMERS} customers; ` +
        `retries after ${RETRY_BASE_MS} ms doubling up to ${RETRY_MAX_MS} ms; deliveries in ` +
        (DELIVERIES === 'worker' ? 'an `npm run worker` process (the server only serves)' : "the server's own worker"),
    );
    const ids: string[] = [];
    for (let batch = 0; batch < CUSTOMERS; batch += 16) {
      const made = await Promise.all(
        Array.from({ length: Math.min(16, CUSTOMERS - batch) }, async (_, index) => {
          const response = await fetch(`${base}/v1/customers`, {
            method: 'POST',
            headers: JSON_APP,
            body: JSON.stringify({ source_id: `bench-${batch + index}` }),
          });
          if (response.status !== 200) throw new Error(`customer create: ${response.status} ${await response.text()}`);
          return ((await response.json()) as { id: string }).id;
        }),
      );
      ids.push(...made);
    }
    await db.query('VACUUM ANALYZE');
    // Warm-up, not counted.
    await writeAtRate(base, ids, RATE, 5);

    const memoryWithout = sampleMemory(pid);
    const without = await writeAtRate(base, ids, RATE, SECONDS);
    const saturatedWithoutCpu = await cpuDuring(pids, () => writeSaturated(base, ids, SATURATION_SECONDS));
    const rssWithout = await memoryWithout.stop();

    const healthy = await startReceiver(() => 200);
    const flaky = await startReceiver(flakyAnswer);
    receivers.push(healthy, flaky);
    const endpointIds = await createEndpoints(base, [healthy, flaky]);
    const { rows: startRows } = await db.query<{ last: string }>('SELECT last_position::text AS last FROM customer_event_feed');
    const feedStart = startRows[0]!.last;

    const memoryWith = sampleMemory(pid);
    const workerMemory = worker === undefined ? undefined : sampleMemory(worker.pid!);
    const withEndpoints = await writeAtRate(base, ids, RATE, SECONDS);
    const rateStopped = Date.now();
    const healthyLagsAtRate = [...healthy.lags];
    const webhookRequests = () => healthy.requests() + flaky.requests();
    const requestsBeforeSaturation = webhookRequests();
    const saturatedWithCpu = await cpuDuring(pids, () => writeSaturated(base, ids, SATURATION_SECONDS));
    const firstRoundRequests = webhookRequests() - requestsBeforeSaturation;
    const writesStopped = Date.now();

    // Every event since the endpoints exist is delivered: how long after the writes stopped.
    await fetch(`${base}/v1/customer-events?limit=1`, { headers: APP });
    const { rows: expected } = await db.query<{ id: string }>(
      `SELECT id FROM customer_events WHERE position > $1::bigint OR position IS NULL`,
      [feedStart],
    );
    const drained = (receiver: typeof healthy) => expected.every((event) => receiver.firstOk.has(event.id));
    let healthyDrainedAt: number | undefined;
    let flakyDrainedAt: number | undefined;
    while (healthyDrainedAt === undefined || flakyDrainedAt === undefined) {
      if (healthyDrainedAt === undefined && drained(healthy)) healthyDrainedAt = Date.now();
      if (flakyDrainedAt === undefined && drained(flaky)) flakyDrainedAt = Date.now();
      if (Date.now() - writesStopped > 15 * 60_000) throw new Error('the backlog did not drain within 15 minutes');
      await sleep(100);
    }
    const rssWith = await memoryWith.stop();
    const rssWorker = await workerMemory?.stop();
    const { rows: backlog } = await db.query<{ count: number }>('SELECT count(*)::int AS count FROM webhook_messages');

    /** A saturation round: writers back to back without deliveries, then with the deliveries `start` starts. */
    const saturationRound = async (start: () => Promise<Deliveries>): Promise<SaturationRound> => {
      const roundWithout = await cpuDuring(pids, () => writeSaturated(base, ids, SATURATION_SECONDS));
      const deliveries = await start();
      const requestsBefore = webhookRequests();
      const roundWith = await cpuDuring(deliveries.pids, () => writeSaturated(base, ids, SATURATION_SECONDS));
      const requests = webhookRequests() - requestsBefore;
      await deliveries.stop();
      return { without: roundWithout, with: roundWith, requests };
    };

    const rounds: SaturationRound[] = [{ without: saturatedWithoutCpu, with: saturatedWithCpu, requests: firstRoundRequests }];
    await deleteEndpoints(base, endpointIds);
    const freshEndpoints = async (): Promise<Deliveries> => {
      const fresh = await createEndpoints(base, [healthy, flaky]);
      return { pids, stop: () => deleteEndpoints(base, fresh) };
    };
    while (rounds.length < SATURATION_ROUNDS) rounds.push(await saturationRound(freshEndpoints));

    if (REFERENCE_ROUNDS > 0) {
      await db.query('CREATE INDEX bench_reference_created_at_idx ON customer_events (created_at, id)');
      await db.query('ANALYZE customer_events');
    }
    const referenceDeliverer = async (): Promise<Deliveries> => {
      const reference = await startReferenceDeliverer(url, [healthy, flaky]);
      return { pids: { server: pid, worker: reference.pid }, stop: () => stopChild(reference) };
    };
    const referenceRounds: SaturationRound[] = [];
    while (referenceRounds.length < REFERENCE_ROUNDS) referenceRounds.push(await saturationRound(referenceDeliverer));

    console.log(`\nWithout endpoints, at ${RATE}/s: ${describeWrites(without)}`);
    console.log(`With two endpoints, at ${RATE}/s:  ${describeWrites(withEndpoints)}`);
    console.log(
      `  ratio with / without: ${(withEndpoints.ok / withEndpoints.seconds / (without.ok / without.seconds)).toFixed(2)}x throughput, ` +
        `p50 latency ${(percentileOf(withEndpoints.latencies, 50) / percentileOf(without.latencies, 50)).toFixed(2)}x, ` +
        `p99 ${(percentileOf(withEndpoints.latencies, 99) / percentileOf(without.latencies, 99)).toFixed(2)}x`,
    );
    const ratios = reportRounds(
      rounds,
      'endpoints',
      (index) => (index === 0 ? '' : ' (fresh endpoints)'),
      DELIVERIES === 'worker' ? 'worker' : undefined,
    );
    const referenceRatios = reportRounds(
      referenceRounds,
      'the reference deliverer',
      () => ' (no endpoint; bench/reference-deliverer.ts in the worker column)',
      'reference',
    );
    if (referenceRatios.length > 0) {
      console.log(
        `The reference's median ${median(referenceRatios).toFixed(2)}x against the service's ${median(ratios).toFixed(2)}x`,
      );
    }
    console.log(
      `\nHealthy endpoint delivery lag (receipt - created_at) during the ${RATE}/s phase: ` +
        `p50 ${percentileOf(healthyLagsAtRate, 50)} ms, p99 ${percentileOf(healthyLagsAtRate, 99)} ms, max ${Math.max(...healthyLagsAtRate)} ms ` +
        `(${healthyLagsAtRate.length} events); over the whole run p50 ${percentileOf(healthy.lags, 50)} ms, p99 ${percentileOf(healthy.lags, 99)} ms`,
    );
    console.log(
      `Backlogs after the writes stopped (${expected.length} events): healthy drained in ${((healthyDrainedAt - writesStopped) / 1000).toFixed(1)} s, ` +
        `flaky in ${((flakyDrainedAt - writesStopped) / 1000).toFixed(1)} s (${flaky.requests()} requests to it, ${healthy.requests()} to the healthy one); ` +
        `${backlog[0]!.count} messages left queued; the ${RATE}/s phase ended ${((writesStopped - rateStopped) / 1000).toFixed(0)} s before the writes stopped`,
    );
    console.log(
      `Server RSS: without endpoints peak ${mib(rssWithout.peak)}; with endpoints peak ${mib(rssWith.peak)}, after the drain ${mib(rssWith.last)}` +
        (rssWorker
          ? `; worker process RSS with endpoints peak ${mib(rssWorker.peak)}, after the drain ${mib(rssWorker.last)}`
          : ''),
    );
    console.log(`(median of the ${RATE}/s latencies without: ${median(without.latencies).toFixed(1)} ms)`);
    await db.end();
  } finally {
    for (const receiver of receivers) receiver.close();
    for (const child of [worker, server]) if (child) await stopChild(child);
    await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  }
}

await main();
