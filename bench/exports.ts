/**
 * `npm run bench:exports`: a customer export of 1,000,000 customers (BENCH_ROWS) against
 * `psql \copy (SELECT …the same columns…) TO` a file of the same rows, in the same run.
 *
 * It starts the built service (node dist/server.js, its job worker in the same process) on a
 * copy of the routes benchmark's seeded data set of its own (bench/seed.sql; the exports write
 * about 100 MiB per run into it), then, BENCH_ROUNDS times (3), alternating which goes first:
 * - the reference: psql's `\copy` of the SELECT the service runs (the same columns, order and
 *   formula escapes; src/exports/columns.ts writes it) to a file;
 * - the export: POST /v1/exports, then GET /v1/exports/{id} every 50 ms until DONE;
 * - the download of `result.url`: time to the first byte and to the last, checked to be the
 *   header row and the reference's bytes.
 * The server's RSS is sampled every 20 ms during the export and the download: the growth is the
 * peak over its RSS before. Settings: BENCH_DATABASE_URL as for the other benchmarks.
 */
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { exportColumn, exportSelect, type ExportColumn } from '../src/exports/columns.js';
import { measured, median, prepareDatabase, SERVICE_COMMAND, startServer, timeCopy } from './support.js';

const env = process.env;
const ROWS = Number(env.BENCH_ROWS ?? 1_000_000);
const ROUNDS = Number(env.BENCH_ROUNDS ?? 3);
const AUTH = { appId: 'bench', secret: 'bench-exports-secret-0123456789abcdef' };
const HEADERS = { 'X-App-Id': AUTH.appId, 'X-App-Token': AUTH.secret, 'Content-Type': 'application/json' };
const FIELDS = ['id', 'source_id', 'name', 'email', 'phone', 'created_at', 'address_city', 'metadata.tier'];
const MIB = 1024 * 1024;

/** What the benchmark reads of an export (or of an error body). */
interface ExportBody {
  id: string;
  status: string;
  result: { url: string } | null;
}

async function call(base: string, path: string, init: RequestInit = {}): Promise<ExportBody> {
  const response = await fetch(`${base}${path}`, { ...init, headers: HEADERS });
  const body = (await response.json()) as ExportBody;
  if (!response.ok) throw new Error(`${path} answered ${response.status}: ${JSON.stringify(body)}`);
  return body;
}

/** POST /v1/exports, then polls until DONE: the export. */
async function exported(base: string): Promise<ExportBody> {
  const created = await call(base, '/v1/exports', {
    method: 'POST',
    body: JSON.stringify({ exported_object: 'customer', parameters: { order: 'created_at', fields: FIELDS } }),
  });
  for (;;) {
    const current = await call(base, `/v1/exports/${created.id}`);
    if (current.status === 'DONE') return current;
    if (current.status === 'ERROR') throw new Error(`export ended ERROR: ${JSON.stringify(current)}`);
    await sleep(50);
  }
}

/** Downloads a file, reading it as it streams: its size, and when its first byte came. */
async function downloaded(url: string): Promise<{ bytes: number; firstByteMs: number; header: string }> {
  const started = performance.now();
  const response = await fetch(url);
  if (!response.ok || !response.body) throw new Error(`the download answered ${response.status}`);
  let bytes = 0;
  let firstByteMs = 0;
  let header = '';
  for await (const chunk of response.body) {
    if (bytes === 0) {
      firstByteMs = performance.now() - started;
      header = Buffer.from(chunk).toString('utf8').split('\n', 1)[0]!;
    }
    bytes += chunk.length;
  }
  return { bytes, firstByteMs, header };
}

/** The link on the server started here: PUBLIC_URL names no port, as the server listens on a free one. */
const onServer = (base: string, link: string) => {
  const { pathname, search } = new URL(link);
  return `${base}${pathname}${search}`;
};

async function main() {
  const url = await prepareDatabase(ROWS, { tag: 'exports' });
  const spool = await mkdtemp(join(tmpdir(), 'bench-exports-'));
  const { base, child } = await startServer(SERVICE_COMMAND, url, AUTH);
  const pid = child.pid!;
  const select = exportSelect(
    FIELDS.map((field) => exportColumn(field) as ExportColumn),
    'created_at',
  );
  const results = { copy: [] as number[], export: [] as number[], download: [] as number[], firstByte: [] as number[] };
  const growth = { export: [] as number[], download: [] as number[] };
  try {
    for (let round = 0; round < ROUNDS; round += 1) {
      const reference = join(spool, 'reference.csv');
      const copy = () => timeCopy(url, `\\copy (${select}) TO '${reference}' WITH (FORMAT csv)`);
      if (round % 2 === 0) results.copy.push(await copy());
      const made = await measured(pid, () => exported(base));
      if (round % 2 === 1) results.copy.push(await copy());
      results.export.push(made.ms);
      growth.export.push(made.growth);

      const fetched = await measured(pid, () => downloaded(onServer(base, made.value.result!.url)));
      const { bytes, firstByteMs, header } = fetched.value;
      const expected = (await stat(reference)).size + Buffer.byteLength(`${FIELDS.join(',')}\n`);
      if (header !== FIELDS.join(',') || bytes !== expected) {
        throw new Error(`the download is not the header and the reference's rows: ${bytes} bytes, ${expected} expected`);
      }
      results.download.push(fetched.ms);
      results.firstByte.push(firstByteMs);
      growth.download.push(fetched.growth);
      const removed = await fetch(`${base}/v1/exports/${made.value.id}`, { method: 'DELETE', headers: HEADERS });
      if (removed.status !== 204) throw new Error(`DELETE answered ${removed.status}`);
      console.error(
        `[bench] round ${round + 1}: \\copy ${results.copy.at(-1)!.toFixed(0)} ms, export ${made.ms.toFixed(0)} ms, download ${fetched.ms.toFixed(0)} ms (${(bytes / MIB).toFixed(1)} MiB)`,
      );
    }
  } finally {
    child.kill('SIGTERM');
    await rm(spool, { recursive: true, force: true });
  }

  const copy = median(results.copy);
  const rounds = (values: number[], digits = 0) => values.map((value) => value.toFixed(digits)).join(', ');
  const mib = (values: number[]) =>
    rounds(
      values.map((value) => value / MIB),
      1,
    );
  console.log(`\nExport of ${ROWS} customers, ${FIELDS.length} columns (${FIELDS.join(', ')}): medians of ${ROUNDS} rounds\n`);
  console.log('| measurement | median | rounds | / \\copy |');
  console.log('|---|---|---|---|');
  console.log(
    `| psql \\copy of the same SELECT to a file (reference) | ${copy.toFixed(0)} ms | ${rounds(results.copy)} | 1.00× |`,
  );
  for (const [name, values] of [
    ['export: POST to DONE', results.export],
    ['download: the whole file', results.download],
    ['download: first byte', results.firstByte],
  ] as const) {
    console.log(`| ${name} | ${median(values).toFixed(0)} ms | ${rounds(values)} | ${(median(values) / copy).toFixed(2)}× |`);
  }
  console.log(
    `| export then download | ${(median(results.export) + median(results.download)).toFixed(0)} ms | | ${((median(results.export) + median(results.download)) / copy).toFixed(2)}× |`,
  );
  console.log(
    `\nServer RSS growth (peak over the RSS before), MiB: export ${mib(growth.export)}; download ${mib(growth.download)}`,
  );
}

await main();
