/**
 * The webhook sender's HTTP client (src/webhooks/sender.ts): client CPU per POST with undici, as
 * the sender posts, against node:http with a keep-alive agent, the sender's client before undici.
 * A receiver in a child process answers 200 to every request; this process posts `--requests`
 * 1 KB JSON bodies, `--concurrency` at once, with each client in turn for `--rounds` rounds, and
 * reports its own CPU per request (process.cpuUsage), the median of the rounds.
 *
 *   npx tsx bench/http-clients.ts
 *   npx tsx bench/http-clients.ts --requests 50000 --concurrency 200 --rounds 5
 */
import { spawn } from 'node:child_process';
import http from 'node:http';
import { parseArgs } from 'node:util';
import { Agent, request } from 'undici';
import { median } from './support.js';

const { values: args } = parseArgs({
  options: {
    requests: { type: 'string', default: '20000' },
    concurrency: { type: 'string', default: '64' },
    rounds: { type: 'string', default: '3' },
  },
});
const REQUESTS = Number(args.requests);
const CONCURRENCY = Number(args.concurrency);
const ROUNDS = Number(args.rounds);
const body = JSON.stringify({ id: 'evcus_0', type: 'customer.updated', data: { padding: 'x'.repeat(900) } });

const RECEIVER = `
  const server = require('node:http').createServer((request, response) => {
    request.resume();
    request.on('end', () => response.writeHead(200).end());
  });
  server.listen(0, '127.0.0.1', () => console.log(server.address().port));`;

const receiver = spawn(process.execPath, ['-e', RECEIVER], { stdio: ['ignore', 'pipe', 'inherit'] });
const [port] = (await receiver.stdout!.take(1).toArray()) as Buffer[];
const url = `http://127.0.0.1:${String(port).trim()}/hook`;

const nodeAgent = new http.Agent({ keepAlive: true, maxSockets: CONCURRENCY });
const undiciAgent = new Agent({ connections: CONCURRENCY });

const clients: Record<string, () => Promise<number>> = {
  'node:http': () =>
    new Promise((resolve, reject) => {
      const outgoing = http.request(
        url,
        {
          method: 'POST',
          agent: nodeAgent,
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        },
        (answer) => {
          answer.resume();
          answer.on('end', () => resolve(answer.statusCode ?? 0));
        },
      );
      outgoing.on('error', reject);
      outgoing.end(body);
    }),
  undici: async () => {
    const answer = await request(url, {
      method: 'POST',
      dispatcher: undiciAgent,
      headers: { 'content-type': 'application/json' },
      body,
    });
    await answer.body.dump();
    return answer.statusCode;
  },
};

/** This process's CPU per request, in µs, posting REQUESTS with `post`, CONCURRENCY at once. */
async function cpuPerRequest(post: () => Promise<number>): Promise<number> {
  let next = 0;
  const started = process.cpuUsage();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < REQUESTS) {
        next += 1;
        if ((await post()) !== 200) throw new Error('the receiver did not answer 200');
      }
    }),
  );
  const used = process.cpuUsage(started);
  return (used.user + used.system) / REQUESTS;
}

const results: Record<string, number[]> = Object.fromEntries(Object.keys(clients).map((name) => [name, []]));
// Warm-up: the connections are opened and the code is compiled before anything is counted.
for (const post of Object.values(clients)) await cpuPerRequest(post);
for (let round = 0; round < ROUNDS; round += 1) {
  for (const [name, post] of Object.entries(clients)) results[name]!.push(await cpuPerRequest(post));
}
console.log(
  `${REQUESTS} POSTs of ${body.length} bytes, ${CONCURRENCY} at once, to a receiver in another process; client CPU per request:`,
);
for (const [name, perRequest] of Object.entries(results)) {
  console.log(
    `  ${name}: median ${median(perRequest).toFixed(0)} µs (${perRequest.map((value) => value.toFixed(0)).join(', ')})`,
  );
}
nodeAgent.destroy();
await undiciAgent.destroy();
receiver.kill();
