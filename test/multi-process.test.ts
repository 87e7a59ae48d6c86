import { describe, expect, it } from 'vitest';
import { databaseKind, sdkHeaders, useTestApp } from './support/app.js';
import { unique } from './support/customers.js';
import { useTwoServerProcesses, type ServerProcess, type TwoServerProcesses } from './support/server-process.js';

const test = useTestApp();
let processes: TwoServerProcesses;

const send = async (server: ServerProcess, method: string, path: string, body: unknown) => {
  const response = await fetch(`${server.base}${path}`, {
    method,
    headers: sdkHeaders,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
};

// PGlite is one PostgreSQL session inside the process that opened it: two services cannot share it.
const embedded = databaseKind() === 'embedded';
if (embedded) console.warn('Skipping the two-process tests: the embedded database serves one process only.');

describe.skipIf(embedded)('two server processes on one database', () => {
  processes = useTwoServerProcesses(() => test.databaseUrl);

  it('make exactly one customer from 100 concurrent creates with one source_id, split between them', async () => {
    const sourceId = unique('two-servers');
    const responses = await Promise.all(
      Array.from({ length: 100 }, (_, index) =>
        send(processes.servers[index % 2]!, 'POST', '/v1/customers', { source_id: sourceId, metadata: { index } }),
      ),
    );
    expect(responses.map((response) => response.status)).toEqual(Array(100).fill(200));
    expect(new Set(responses.map((response) => response.body.id)).size).toBe(1);
    const { rows } = await processes.db.query(
      'SELECT count(*)::int AS count FROM customers WHERE source_id = $1 AND deleted_at IS NULL',
      [sourceId],
    );
    expect(rows).toEqual([{ count: 1 }]);
  });

  it('lose no field when both update different fields of one customer at once', async () => {
    const created = (await send(processes.servers[0]!, 'POST', '/v1/customers', { source_id: unique('fields') })).body;
    const fields = {
      name: 'N',
      email: 'n@example.com',
      phone: '+1',
      description: 'D',
      birthdate: '1999-09-09',
      address: { city: 'C' },
      metadata: { m: 1 },
    };
    const responses = await Promise.all(
      Object.entries(fields).map(([field, value], index) =>
        send(processes.servers[index % 2]!, 'PUT', `/v1/customers/${created.id}`, { [field]: value }),
      ),
    );
    expect(responses.map((response) => response.status)).toEqual(Object.keys(fields).map(() => 200));
    expect((await send(processes.servers[1]!, 'GET', `/v1/customers/${created.id}`, undefined)).body).toMatchObject(fields);
  });

  it('settle concurrent writes of one field on the last write, as the activity log orders them', async () => {
    const created = (await send(processes.servers[0]!, 'POST', '/v1/customers', {})).body;
    const responses = await Promise.all(
      Array.from({ length: 40 }, (_, index) =>
        send(processes.servers[index % 2]!, 'PUT', `/v1/customers/${created.id}`, { name: `writer-${index}` }),
      ),
    );
    expect(responses.every((response) => response.status === 200)).toBe(true);
    const final = (await send(processes.servers[0]!, 'GET', `/v1/customers/${created.id}`, undefined)).body;
    // A row's changes get strictly increasing times in the order they commit, and so do its events.
    const updates = responses.map((response) => response.body as { name: string; updated_at: string });
    const latest = updates.reduce((last, update) => (update.updated_at > last.updated_at ? update : last));
    expect(new Set(updates.map((update) => update.updated_at)).size).toBe(40);
    expect(final).toMatchObject({ name: latest.name, updated_at: latest.updated_at });
    const { rows } = await processes.db.query<{ name: string }>(
      `SELECT data -> 'customer' ->> 'name' AS name FROM customer_events WHERE customer_id = $1 ORDER BY created_at DESC LIMIT 1`,
      [created.id],
    );
    expect(rows[0]!.name).toBe(latest.name);
    const { rows: events } = await processes.db.query(
      'SELECT count(*)::int AS count FROM customer_events WHERE customer_id = $1',
      [created.id],
    );
    expect(events).toEqual([{ count: 41 }]);
  });
});
