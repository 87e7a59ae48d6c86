/**
 * Bulk write benchmark: a CSV import and a bulk update through the running service, each
 * against PostgreSQL's own `\copy` of the same rows, measured alternately in the same run.
 *
 *   npm run bench:bulk                      # 100,000-row import, 10,000-customer bulk update, 5 rounds
 *   npm run bench:bulk -- --rounds 3 --rows 20000 --bulk-rows 5000 --report-rows 20000
 *
 * It also downloads the report of a --report-rows metadata update (default 100,000) against \copy TO.
 * With --declare-metadata the customer metadata schema declares `lang` (string) and `score`
 * (number) first, so every write also keeps their indexed values (customer_metadata_values).
 *
 * Needs `psql` and a PostgreSQL server whose role may create databases: BENCH_DATABASE_URL,
 * default postgresql://postgres@127.0.0.1:5432/postgres. It builds nothing itself (the npm
 * script builds first), creates a database of its own and drops it at the end.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { adminQuery, databaseUrl, freePort, measured, median, SERVICE_COMMAND, timeCopy, untilServing } from './support.js';

const { values: args } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    rows: { type: 'string', default: '100000' },
    'bulk-rows': { type: 'string', default: '10000' },
    'report-rows': { type: 'string', default: '100000' },
    'declare-metadata': { type: 'boolean', default: false },
  },
});
const ROUNDS = Number(args.rounds);
const IMPORT_ROWS = Number(args.rows);
const BULK_ROWS = Number(args['bulk-rows']);
const REPORT_ROWS = Number(args['report-rows']);

const projectRoot = fileURLToPath(new URL('..', import.meta.url));
const APP = { 'X-App-Id': 'bench', 'X-App-Token': randomBytes(24).toString('hex') };

const seconds = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(0)} MiB`;

/** The same customers, as the CSV a user uploads and as rows of the customers table. */
function generate(rows: number, prefix: string, round: number) {
  const csv = ['Source_id,Name,Email,Phone,City,Country,lang,vip,score'];
  const table: string[] = [];
  const items: unknown[] = [];
  const createdAt = new Date().toISOString();
  for (let index = 0; index < rows; index += 1) {
    const sourceId = `${prefix}-${String(index).padStart(7, '0')}`;
    const name = `Customer ${index} r${round}`;
    const email = `customer${index}@example.com`;
    const phone = `+1 555 ${String(index % 10000).padStart(4, '0')}`;
    const address = { city: 'Springfield', country: 'US' };
    const metadata = { lang: 'en', vip: index % 2 === 0, score: index % 1000 };
    csv.push(`${sourceId},${name},${email},${phone},Springfield,US,en,${metadata.vip},${metadata.score}`);
    const json = (value: unknown) => `"${JSON.stringify(value).replace(/"/g, '""')}"`;
    table.push(
      `cust_${randomBytes(12).toString('hex').slice(0, 24)},${sourceId},${name},${email},${phone},${json(address)},${json(metadata)},${createdAt}`,
    );
    items.push({ source_id: sourceId, name, email, phone, address, metadata });
  }
  return { csv: `${csv.join('\n')}\n`, table: `${table.join('\n')}\n`, items };
}

/** Sends a request that starts an async action, then polls it to DONE: total wall time and peak RSS growth. */
async function timeAction(base: string, pid: number, start: () => Promise<Response>) {
  const { value: action, ms, growth } = await measured(pid, () => untilEnded(base, start));
  if (action.status !== 'DONE' || action.result.failed_count !== 0) throw new Error(`action ended ${JSON.stringify(action)}`);
  return { ms, growth, done: action.result.done_count, id: action.id, reports: action.result.reports };
}

interface EndedAction {
  id: string;
  status: string;
  result: { done_count: number; failed_count: number; reports?: string[] };
}

async function untilEnded(base: string, start: () => Promise<Response>): Promise<EndedAction> {
  const response = await start();
  if (response.status !== 202) throw new Error(`expected 202, got ${response.status}: ${await response.text()}`);
  const { async_action_id: id } = (await response.json()) as { async_action_id: string };
  for (;;) {
    const action = (await (await fetch(`${base}/v1/async-actions/${id}`, { headers: APP })).json()) as EndedAction;
    if (action.status === 'DONE' || action.status === 'FAILED') return action;
    await sleep(25);
  }
}

/** Downloads a report link from the server at `base`, reading it as it streams: its size in lines. */
async function downloadLines(base: string, link: string): Promise<number> {
  const { pathname, search } = new URL(link);
  const response = await fetch(`${base}${pathname}${search}`);
  if (response.status !== 200 || !response.body) throw new Error(`report download answered ${response.status}`);
  let lines = 0;
  for await (const chunk of response.body) for (const byte of chunk as Uint8Array) if (byte === 10) lines += 1;
  return lines;
}

function report(title: string, copyMs: number[], serviceMs: number[], growth: number[], copyLabel: string) {
  const ratios = serviceMs.map((ms, index) => ms / copyMs[index]!);
  console.log(`\n${title}`);
  console.log(`  ${copyLabel}: ${copyMs.map(seconds).join(', ')}  median ${seconds(median(copyMs))}`);
  console.log(`  service:  ${serviceMs.map(seconds).join(', ')}  median ${seconds(median(serviceMs))}`);
  console.log(
    `  ratio service / \\copy: median of rounds ${median(ratios).toFixed(2)}x, of medians ${(median(serviceMs) / median(copyMs)).toFixed(2)}x`,
  );
  if (growth.length > 0)
    console.log(`  server RSS growth during the action: max ${mib(Math.max(...growth))}, median ${mib(median(growth))}`);
}

async function main() {
  const name = `bench_${randomBytes(6).toString('hex')}`;
  const url = databaseUrl(name);
  const dir = await mkdtemp(join(tmpdir(), 'customer-bench-'));
  let server: ChildProcess | undefined;
  await adminQuery(`CREATE DATABASE ${name}`);
  try {
    const port = await freePort();
    const base = `http://127.0.0.1:${port}`;
    server = spawn(process.execPath, SERVICE_COMMAND, {
      cwd: projectRoot,
      env: {
        ...process.env,
        DATABASE_URL: url,
        PORT: String(port),
        HOST: '127.0.0.1',
        API_KEYS: `${APP['X-App-Id']}:${APP['X-App-Token']}`,
        LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    // The server applies the migrations, then listens.
    await untilServing(server, `${base}/v1/async-actions?limit=1`, APP);
    if (args['declare-metadata']) {
      const declared = await fetch(`${base}/management/v1/projects/default/metadata-schemas`, {
        method: 'POST',
        headers: { ...APP, 'Content-Type': 'application/json' },
        body: JSON.stringify({
          related_object: 'customer',
          properties: {
            lang: { type: 'string', optional: true, array: false },
            score: { type: 'number', optional: true, array: false },
          },
        }),
      });
      if (!declared.ok) throw new Error(`the metadata schema answered ${declared.status}: ${await declared.text()}`);
      console.log('The metadata schema declares lang (string) and score (number): their values are indexed.');
    }
    const pid = server.pid!;
    const db = new pg.Client({ connectionString: url });
    // A failed run drops the database with this client still connected: its own error is the one to report.
    db.on('error', () => undefined);
    await db.connect();
    // \copy targets: the file as it is (text columns), and the customers table's shape with all its indexes.
    await db.query(
      `CREATE TABLE bench_file (source_id text, name text, email text, phone text, city text, country text, lang text, vip text, score text)`,
    );
    await db.query(`CREATE TABLE bench_customers (LIKE customers INCLUDING ALL)`);
    // ... and its triggers, which keep the live counts (customer_counts, which these rows pollute: no bench reads it).
    await db.query(`CREATE TRIGGER bench_count_inserts AFTER INSERT ON bench_customers
      REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION count_inserted_customers()`);
    const tableColumns = '(id, source_id, name, email, phone, address, metadata, created_at)';

    const importData = generate(IMPORT_ROWS, 'import', 0);
    const csvPath = join(dir, 'customers.csv');
    const tablePath = join(dir, 'customers-table.csv');
    await writeFile(csvPath, importData.csv);
    await writeFile(tablePath, importData.table);
    const csvBytes = Buffer.byteLength(importData.csv);
    console.log(
      `CSV import: ${IMPORT_ROWS} rows, ${(csvBytes / 1e6).toFixed(1)} MB (${mib(csvBytes)}); bulk update: ${BULK_ROWS} customers; ${ROUNDS} rounds`,
    );
    const upload = async () => {
      const form = new FormData();
      form.append('file', new Blob([await readFile(csvPath)], { type: 'text/csv' }), 'customers.csv');
      return fetch(`${base}/v1/customers/importCSV`, { method: 'POST', body: form, headers: APP });
    };

    // A first import warms the server up; it is not counted.
    await db.query('TRUNCATE customers, customer_events CASCADE');
    await timeAction(base, pid, upload);

    const copyFile: number[] = [];
    const copyTable: number[] = [];
    const imports: number[] = [];
    const importGrowth: number[] = [];
    for (let round = 0; round < ROUNDS; round += 1) {
      await db.query('TRUNCATE bench_file, bench_customers');
      copyFile.push(await timeCopy(url, `\\copy bench_file from '${csvPath}' csv header`));
      copyTable.push(await timeCopy(url, `\\copy bench_customers ${tableColumns} from '${tablePath}' csv`));
      await db.query('TRUNCATE customers, customer_events CASCADE');
      await db.query('VACUUM ANALYZE customers');
      const { ms, growth, done } = await timeAction(base, pid, upload);
      if (done !== IMPORT_ROWS) throw new Error(`imported ${done} of ${IMPORT_ROWS}`);
      imports.push(ms);
      importGrowth.push(growth);
      process.stdout.write('.');
    }
    report(
      `CSV import of ${IMPORT_ROWS} rows (upload to DONE)`,
      copyTable,
      imports,
      importGrowth,
      '\\copy into customers-shaped table',
    );
    report(
      `  the same import against \\copy of the raw file into a text table (no indexes)`,
      copyFile,
      imports,
      [],
      '\\copy raw file',
    );

    // Bulk update: the customers exist; every round rewrites all of them.
    await db.query('TRUNCATE customers, customer_events CASCADE');
    const seeded = generate(BULK_ROWS, 'bulk', 0);
    await writeFile(tablePath, seeded.table);
    await timeCopy(url, `\\copy customers ${tableColumns} from '${tablePath}' csv`);
    await db.query('VACUUM ANALYZE customers');
    const copyBulk: number[] = [];
    const bulks: number[] = [];
    const bulkGrowth: number[] = [];
    for (let round = 1; round <= ROUNDS; round += 1) {
      const data = generate(BULK_ROWS, 'bulk', round);
      await writeFile(tablePath, data.table);
      await db.query('TRUNCATE bench_customers');
      copyBulk.push(await timeCopy(url, `\\copy bench_customers ${tableColumns} from '${tablePath}' csv`));
      const body = JSON.stringify(data.items);
      const { ms, growth, done } = await timeAction(base, pid, () =>
        fetch(`${base}/v1/customers/bulk/async`, {
          method: 'POST',
          body,
          headers: { ...APP, 'Content-Type': 'application/json' },
        }),
      );
      if (done !== BULK_ROWS) throw new Error(`updated ${done} of ${BULK_ROWS}`);
      bulks.push(ms);
      bulkGrowth.push(growth);
      process.stdout.write('.');
    }
    report(
      `Bulk update of ${BULK_ROWS} existing customers (request to DONE)`,
      copyBulk,
      bulks,
      bulkGrowth,
      '\\copy of the same rows',
    );

    // Report download: a metadata update of REPORT_ROWS customers (its body stays under 10 MiB
    // where a bulk update's would not), its report downloaded each round against \copy of the
    // same columns of the same rows out of the database.
    const sourceIds = Array.from({ length: REPORT_ROWS }, (_, index) => `report-${index}`);
    const reported = await timeAction(base, pid, () =>
      fetch(`${base}/v1/customers/metadata/async`, {
        method: 'POST',
        body: JSON.stringify({ source_ids: sourceIds, metadata: { reported: true } }),
        headers: { ...APP, 'Content-Type': 'application/json' },
      }),
    );
    const link = reported.reports?.[0];
    if (!link) throw new Error('the metadata update linked no report');
    const copyReport: number[] = [];
    const downloads: number[] = [];
    const downloadGrowth: number[] = [];
    for (let round = 1; round <= ROUNDS; round += 1) {
      copyReport.push(
        await timeCopy(
          url,
          `\\copy (SELECT row, source_id, CASE WHEN created THEN 'created' ELSE 'updated' END, NULL, NULL FROM async_action_applied_rows WHERE action_id = '${reported.id}' ORDER BY row) TO '${tablePath}' csv header`,
        ),
      );
      const { value: lines, ms, growth } = await measured(pid, () => downloadLines(base, link));
      if (lines !== REPORT_ROWS + 1) throw new Error(`the report had ${lines} lines for ${REPORT_ROWS} rows`);
      downloads.push(ms);
      downloadGrowth.push(growth);
      process.stdout.write('.');
    }
    report(
      `Report download of a ${REPORT_ROWS}-row metadata update`,
      copyReport,
      downloads,
      downloadGrowth,
      '\\copy TO of the same rows',
    );
    await db.end();
  } finally {
    if (server && server.exitCode === null) {
      server.kill('SIGTERM');
      await once(server, 'exit');
    }
    await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
