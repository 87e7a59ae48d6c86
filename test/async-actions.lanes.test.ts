import { describe, expect, it } from 'vitest';
import { laneOf } from '../src/jobs/runner.js';
import { APP_ID, APP_SECRET, databaseKind, useTestApp } from './support/app.js';
import { finishedAction } from './support/async-actions.js';
import { unique } from './support/customers.js';

// Batches of two rows a lane, so that every customer's rows span many batches of both lanes.
const test = useTestApp({ JOB_BATCH_SIZE: '2' });
const { api } = test;
const auth = { 'X-App-Id': APP_ID, 'X-App-Token': APP_SECRET };

async function importCsv(content: string) {
  const accepted = await test
    .raw()
    .post('/v1/customers/importCSV')
    .set(auth)
    .attach('file', Buffer.from(content), 'customers.csv')
    .expect(202);
  return {
    requestId: String(accepted.headers['x-request-id']),
    action: await finishedAction(api, accepted.body.async_action_id),
  };
}

/** The names a customer had in the events one request recorded, oldest first, and whether their times increase strictly. */
async function namesWritten(key: string, requestId: string) {
  const events = (await api.get(`/v1/customers/${key}/activity?order=created_at&limit=100`).expect(200)).body.data as Array<{
    group_id: string;
    created_at: string;
    data: { customer: { name: string; updated_at: string | null; created_at: string } };
  }>;
  const written = events.filter((event) => event.group_id === requestId);
  const times = written.map((event) => Date.parse(event.data.customer.updated_at ?? event.data.customer.created_at));
  return {
    names: written.map((event) => event.data.customer.name),
    increasing: times.every((time, index) => index === 0 || time > times[index - 1]!),
  };
}

const lanes = databaseKind() === 'embedded' ? 1 : 2;

/**
 * `count` new source ids with customers in every lane: the test means nothing if one lane had them
 * all, which five random ids in two lanes do one time in sixteen. The last id is drawn again until
 * every lane has one.
 */
function sourceIdsInEveryLane(count: number): string[] {
  const sourceIds = Array.from({ length: count }, () => unique('lanes'));
  const lanesUsed = () => new Set(sourceIds.map((sourceId, index) => laneOf(sourceId, index, lanes))).size;
  while (lanesUsed() < lanes) sourceIds[count - 1] = unique('lanes');
  return sourceIds;
}

describe('CSV imports applied in lanes', () => {
  it('apply each customer’s rows in file order, however the rows of many customers interleave across batches', async () => {
    const sourceIds = sourceIdsInEveryLane(5);
    const rows: string[] = [];
    for (let round = 1; round <= 8; round += 1) {
      for (const sourceId of sourceIds) rows.push(`${sourceId},${sourceId} ${round}`);
      // Rows without a source_id create a customer each, in any lane.
      rows.push(`,nameless ${round}`);
    }
    const { requestId, action } = await importCsv(`Source_id,Name\n${rows.join('\n')}\n`);
    expect(action.result).toMatchObject({ done_count: rows.length, failed_count: 0 });

    for (const sourceId of sourceIds) {
      expect((await api.get(`/v1/customers/${sourceId}`).expect(200)).body.name).toBe(`${sourceId} 8`);
      expect(await namesWritten(sourceId, requestId)).toEqual({
        names: Array.from({ length: 8 }, (_, index) => `${sourceId} ${index + 1}`),
        increasing: true,
      });
    }
    const { rows: nameless } = await test.db.query(
      `SELECT count(*)::int AS count FROM customers WHERE name LIKE 'nameless %' AND source_id IS NULL`,
    );
    expect(nameless[0].count).toBeGreaterThanOrEqual(8);
    const { rows: stored } = await test.db.query('SELECT position, lane_positions FROM async_actions WHERE id = $1', [action.id]);
    expect(stored[0]).toEqual({ position: rows.length, lane_positions: lanes > 1 ? [rows.length, rows.length] : [] });
  });

  it('apply rows naming a customer by id in file order with the rows naming it by source_id', async () => {
    const sourceId = unique('lanes-id');
    const { id } = (await api.post('/v1/customers', { source_id: sourceId, name: 'before' }).expect(200)).body;
    const others = Array.from({ length: 3 }, () => unique('lanes-other'));
    const rows: string[] = [];
    for (let round = 1; round <= 6; round += 1) {
      rows.push(round % 2 === 0 ? `${id},,${round}` : `,${sourceId},${round}`);
      for (const other of others) rows.push(`,${other},${round}`);
    }
    const { requestId, action } = await importCsv(`Id,Source_id,Name\n${rows.join('\n')}\n`);
    expect(action.result).toMatchObject({ done_count: rows.length, failed_count: 0 });
    expect(await namesWritten(sourceId, requestId)).toEqual({ names: ['1', '2', '3', '4', '5', '6'], increasing: true });
    for (const other of others) {
      expect(await namesWritten(other, requestId)).toEqual({ names: ['1', '2', '3', '4', '5', '6'], increasing: true });
    }
  });
});
