import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { createCustomerRepository } from '../src/customers/repository/index.js';
import { newCustomerId } from '../src/ids.js';
import { timestamp } from '../src/timestamps.js';
import { databaseKind, useTestApp } from './support/app.js';
import { invalidQuery, unique } from './support/customers.js';
import { expectReferenceSchema } from './support/reference.js';
import { until } from './support/wait.js';

// A polling reader asks as fast as answers come: on a fast machine past the default rate limit
// (6,000 a minute), which is not what this file tests. The concurrent test holds five requests
// at row locks for as long as it needs: the pool leaves the reader and the writers room beside them.
const test = useTestApp({ RATE_LIMIT_PER_MINUTE: '0', DATABASE_POOL_SIZE: '30' });
const { api } = test;
const embedded = databaseKind() === 'embedded';

interface FeedEvent {
  id: string;
  object: 'event';
  type: string;
  created_at: string;
  group_id: string;
  data: { customer: { id: string; metadata: Record<string, unknown> } };
}
interface FeedPage {
  object: 'list';
  data_ref: 'data';
  data: FeedEvent[];
  has_more: boolean;
  more_starting_after?: string;
}

/** A page of the feed; anything but a 200 fails with the whole answer, which names its request. */
async function feed(query = ''): Promise<FeedPage> {
  const response = await api.get(`/v1/customer-events?${query}`);
  if (response.status !== 200) throw new Error(`GET /v1/customer-events?${query} answered ${response.status}: ${response.text}`);
  return response.body as FeedPage;
}

/** The id of the last event of the feed now: a cursor from which a test reads only what it writes next. */
async function feedEnd(): Promise<string | undefined> {
  let last: string | undefined;
  for (let page = await feed('limit=100'); ; page = await feed(`limit=100&starting_after=${page.more_starting_after}`)) {
    last = page.more_starting_after ?? last;
    if (!page.has_more) return last;
  }
}

/** Every event after `after`, page by page. */
async function readFrom(after: string | undefined, query = ''): Promise<FeedEvent[]> {
  const events: FeedEvent[] = [];
  let cursor = after;
  for (;;) {
    const page = await feed(`limit=100${cursor ? `&starting_after=${cursor}` : ''}${query}`);
    events.push(...page.data);
    cursor = page.more_starting_after ?? cursor;
    if (!page.has_more) return events;
  }
}

describe('GET /v1/customer-events', () => {
  it("lists every customer's changes in the order they committed, as activity events tagged object: event", async () => {
    const start = await feedEnd();
    const created = await api.post('/v1/customers', { source_id: unique('feed'), name: 'Ann' }).expect(200);
    const other = await api.post('/v1/customers', { source_id: unique('feed') }).expect(200);
    const updated = await api.put(`/v1/customers/${created.body.id}`, { name: 'Anna' }).expect(200);
    await api.delete(`/v1/customers/${other.body.id}`).expect(204);

    const page = await feed(`limit=10${start ? `&starting_after=${start}` : ''}`);
    expectReferenceSchema('CustomersActivityListResponseBody', {
      ...page,
      data: page.data.map(({ object: _, ...event }) => event),
    });
    expect(page).toEqual({
      object: 'list',
      data_ref: 'data',
      data: [
        {
          id: expect.stringMatching(/^evcus_/),
          object: 'event',
          type: 'customer.created',
          data: { customer: created.body },
          created_at: created.body.created_at,
          group_id: created.headers['x-request-id'],
        },
        expect.objectContaining({ type: 'customer.created', data: { customer: other.body } }),
        expect.objectContaining({ type: 'customer.updated', data: { customer: updated.body } }),
        expect.objectContaining({ type: 'customer.deleted', data: { customer: other.body } }),
      ],
      has_more: false,
      more_starting_after: page.data[3]!.id,
    });
    // The activity of each customer holds the same events.
    const activity = (await api.get(`/v1/customers/${created.body.id}/activity?order=created_at`).expect(200)).body;
    expect(activity.data).toEqual(
      page.data.filter((event) => event.data.customer.id === created.body.id).map(({ object: _, ...event }) => event),
    );
  });

  it('pages by starting_after, and filters by type and dates', async () => {
    const start = await feedEnd();
    const ids: string[] = [];
    for (let i = 0; i < 5; i += 1) ids.push((await api.post('/v1/customers', { source_id: unique('page') }).expect(200)).body.id);
    await api.put(`/v1/customers/${ids[0]}`, { name: 'changed' }).expect(200);

    const first = await feed(`limit=2${start ? `&starting_after=${start}` : ''}`);
    expect(first.data.map((event) => event.data.customer.id)).toEqual(ids.slice(0, 2));
    expect(first).toMatchObject({ has_more: true, more_starting_after: first.data[1]!.id });
    const second = await feed(`limit=10&starting_after=${first.more_starting_after}`);
    expect(second.data.map((event) => [event.type, event.data.customer.id])).toEqual([
      ...ids.slice(2).map((id) => ['customer.created', id]),
      ['customer.updated', ids[0]],
    ]);
    expect(second.has_more).toBe(false);
    // Polling past the end answers an empty page and no cursor.
    expect(await feed(`starting_after=${second.more_starting_after}`)).toEqual({
      object: 'list',
      data_ref: 'data',
      data: [],
      has_more: false,
    });

    const updates = await readFrom(start, '&type=customer.updated');
    expect(updates.map((event) => event.data.customer.id)).toEqual([ids[0]]);
    const all = [...first.data, ...second.data];
    const between = await readFrom(start, `&start_date=${all[1]!.created_at}&end_date=${all[3]!.created_at}`);
    expect(between.map((event) => event.id)).toEqual(
      all
        .filter((event) => event.created_at >= all[1]!.created_at && event.created_at <= all[3]!.created_at)
        .map((event) => event.id),
    );
  });

  it.each([
    ['limit=0', 'Property .limit must be >= 1'],
    ['limit=101', 'Property .limit must be <= 100'],
    ['limit=ten', 'Property .limit must be integer'],
    ['type=customer.merged', 'Property .type must be one of: customer.created, customer.updated, customer.deleted'],
    ['start_date=2021-02-30', 'Property .start_date cannot be recognized as a ISO-8601 compliant date'],
    ['end_date=soon', 'Property .end_date cannot be recognized as a ISO-8601 compliant date'],
    ['starting_after=', 'Property .starting_after must NOT have fewer than 1 characters'],
    [
      'starting_after=evcus_000000000000000000',
      'Property .starting_after does not name an event of the feed: evcus_000000000000000000',
    ],
    ['order=created_at', 'Property .order is not allowed'],
  ])('rejects %s naming the parameter', async (query, details) => {
    const response = await api.get(`/v1/customer-events?${query}`).expect(400);
    expect(response.body).toEqual(invalidQuery(details));
  });

  it("drops a permanently deleted customer's events", async () => {
    const start = await feedEnd();
    const kept = (await api.post('/v1/customers', { source_id: unique('kept') }).expect(200)).body;
    const erased = (await api.post('/v1/customers', { source_id: unique('erased') }).expect(200)).body;
    await api.put(`/v1/customers/${erased.id}`, { name: 'x' }).expect(200);
    expect((await readFrom(start)).map((event) => event.data.customer.id)).toEqual([kept.id, erased.id, erased.id]);

    await api.post(`/v1/customers/${erased.id}/permanent-deletion`, {}).expect(200);
    expect((await readFrom(start)).map((event) => event.data.customer.id)).toEqual([kept.id]);
  });
});

if (embedded)
  console.warn(
    'Skipping the concurrent feed test: the embedded database is one session, so no write can be held open beside others.',
  );

describe.skipIf(embedded)('GET /v1/customer-events under concurrent writes', () => {
  /**
   * A write of the service's own write path, held open: its transaction has written the events of
   * `count` customers (creating them, or updating `existing`), and commits when the test says.
   */
  async function heldWrite({ create = 0, update = [] as string[] }) {
    const client = new pg.Client({ connectionString: test.databaseUrl });
    await client.connect();
    await client.query('BEGIN');
    const repository = createCustomerRepository(test.db);
    const stamp = { at: timestamp(), requestId: unique('v-held') };
    const created = await repository.insertMissing(
      client,
      Array.from({ length: create }, (_, row) => ({ row, id: newCustomerId(), sourceId: unique('held'), changes: {} })),
      stamp,
      'customer',
    );
    await repository.updateMatching(
      client,
      update.map((id, row) => ({ row, id, sourceId: null, changes: { metadata: { held: true } } })),
      'id',
      stamp,
      'row',
    );
    return {
      ids: created.map((customer) => customer.id),
      async commit() {
        await client.query('COMMIT');
        await client.end();
      },
    };
  }

  it("gives a polling reader every event exactly once, a slow transaction's too, each customer's in commit order", async () => {
    const start = await feedEnd();
    const eventIds = async () =>
      (await test.db.query<{ id: string }>('SELECT id FROM customer_events')).rows.map((row) => row.id);
    const before = new Set(await eventIds());
    const shared = await Promise.all(
      Array.from(
        { length: 5 },
        async () => (await api.post('/v1/customers', { source_id: unique('shared') }).expect(200)).body.id as string,
      ),
    );
    const seen: FeedEvent[] = [];
    let cursor = start;
    const poll = async () => {
      const page = await feed(`limit=100${cursor ? `&starting_after=${cursor}` : ''}`);
      seen.push(...page.data);
      cursor = page.more_starting_after ?? cursor;
    };
    let reading = true;
    // A page that fails ends the reader: the waits below then fail at once with its answer,
    // instead of waiting out the test's timeout for events no one reads.
    let readerFailure: Error | undefined;
    const reader = (async () => {
      while (reading) await poll();
    })().catch((error: Error) => {
      readerFailure = error;
    });
    const readerHasSeen = (count: number) => {
      if (readerFailure) throw new Error(`the polling reader failed: ${readerFailure.message}`);
      return seen.length >= count;
    };

    // Transactions that wrote events first and commit last: two create, one updates the shared
    // customers (whose next writes wait for it).
    const held = await Promise.all([heldWrite({ create: 3 }), heldWrite({ create: 2 }), heldWrite({ update: shared })]);
    const writers = Array.from({ length: 8 }, async (_, writer) => {
      for (let i = 0; i < 15; i += 1) {
        const { body } = await api.post('/v1/customers', { source_id: unique(`w${writer}`) }).expect(200);
        await api.put(`/v1/customers/${body.id}`, { metadata: { i } }).expect(200);
      }
    });
    // Waits on the held update's row locks: these commit after it.
    const sharedWrites = shared.map((id) => api.put(`/v1/customers/${id}`, { metadata: { after: true } }).expect(200));
    await Promise.all(writers);
    // The reader has passed events committed after the held transactions began.
    await until(() => readerHasSeen(8 * 15 * 2), 'the reader to see the unheld writes');
    const seenBeforeCommit = new Set(seen.map((event) => event.id));

    for (const one of held) await one.commit();
    await Promise.all(sharedWrites);
    const expected = (await eventIds()).filter((id) => !before.has(id));
    await until(() => readerHasSeen(expected.length), 'the reader to see every event');
    reading = false;
    await reader;
    expect(readerFailure).toBeUndefined();
    await poll();

    const ids = seen.map((event) => event.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.sort()).toEqual([...expected].sort());
    // The held events were read after events that committed before them.
    const heldIds = new Set(held.flatMap((one) => one.ids));
    expect(seen.filter((event) => heldIds.has(event.data.customer.id) && seenBeforeCommit.has(event.id))).toEqual([]);
    expect(seen.filter((event) => heldIds.has(event.data.customer.id))).toHaveLength(5);
    // Each customer's events in commit order: the held update of a shared customer before the write that waited for it.
    const byCustomer = new Map<string, FeedEvent[]>();
    for (const event of seen) byCustomer.set(event.data.customer.id, [...(byCustomer.get(event.data.customer.id) ?? []), event]);
    for (const id of shared) {
      expect(byCustomer.get(id)!.map((event) => event.data.customer.metadata)).toEqual([{}, { held: true }, { after: true }]);
    }
    for (const events of byCustomer.values()) {
      const times = events.map((event) => event.created_at);
      expect(times).toEqual([...times].sort());
    }
  });
});
