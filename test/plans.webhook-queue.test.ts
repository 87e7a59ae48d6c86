import { beforeAll, describe, expect, it } from 'vitest';
import { createWebhookStore, type MessageOutcome, type WebhookStore } from '../src/webhooks/store.js';
import { useTestApp } from './support/app.js';
import { unique } from './support/customers.js';
import { recordingPool, type Statement } from './support/plans.js';

// No worker: this test drives the delivery statements itself.
const test = useTestApp({ WORKER_ENABLED: 'false', WEBHOOK_ALLOW_PRIVATE_URLS: 'true', RATE_LIMIT_PER_MINUTE: '0' });

const CUSTOMERS = 400;
const CONCURRENT_REQUESTS = 8;

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  Plans?: PlanNode[];
}

const nodesOf = (node: PlanNode): PlanNode[] => [node, ...(node.Plans ?? []).flatMap(nodesOf)];

/** A store call's statements as sent, but BEGIN, COMMIT and ROLLBACK. */
const withoutTransaction = (statements: Statement[]) =>
  statements.filter((statement) => !/^(BEGIN|COMMIT|ROLLBACK)$/.test(statement.text));

/**
 * The executed plan of one statement of a store call, run as the store ran it: after the call's
 * statements before it (the planner settings, locks), in a transaction that is rolled back.
 * Without `settings`, the planner settings are left out. Delivery log ids are renamed, as the
 * call itself committed them.
 */
async function replayedPlan(statements: Statement[], main: RegExp, { settings = true } = {}): Promise<PlanNode[]> {
  const sent = withoutTransaction(statements);
  const index = sent.findIndex((statement) => main.test(statement.text));
  expect(index).toBeGreaterThanOrEqual(0);
  const before = sent.slice(0, index).filter((statement) => settings || !statement.text.includes('set_config'));
  const values = sent[index]!.values.map((value) =>
    typeof value === 'string' ? value.replaceAll('whd_test', 'whd_plan') : value,
  );
  const client = await test.db.connect();
  try {
    await client.query('BEGIN');
    for (const statement of before) await client.query(statement.text, statement.values);
    const { rows } = await client.query(`EXPLAIN (ANALYZE, FORMAT JSON) ${sent[index]!.text}`, values);
    return nodesOf((rows[0]['QUERY PLAN'] as Array<{ Plan: PlanNode }>)[0]!.Plan);
  } finally {
    await client.query('ROLLBACK');
    client.release();
  }
}

/** Whether a plan reads the whole queue: a sequential scan of it, or a hash or merge join. */
const readsWholeQueue = (plan: PlanNode[]) =>
  plan.some(
    (node) =>
      (node['Relation Name'] === 'webhook_messages' && node['Node Type'] === 'Seq Scan') ||
      node['Node Type'] === 'Hash Join' ||
      node['Node Type'] === 'Merge Join',
  );

const CLAIM = /claimable/;
const RECORD = /"deliveryId" text/;
const READ = /sendable/;
const QUEUE = /INSERT INTO webhook_messages/;

const LEASE = { leaseMs: 60_000, lease: 'plan-test' };

/** Reads the whole feed for every endpoint and queues it, sending nothing (a worker whose attempts are all taken). */
async function queueTheFeed(store: WebhookStore) {
  for (;;) {
    const { ranges } = await store.round({ readLimit: 300, free: 0, ...LEASE }, 86_400_000, 'whd_test');
    if (ranges.length === 0) return;
    await store.round({ ranges: ranges.map((range) => ({ ...range, sent: [] })), ...LEASE }, 86_400_000, 'whd_test');
  }
}

/** The queue read by key only: it is read, and nothing reads it whole. */
function expectKeyedPaths(plan: PlanNode[]) {
  expect(plan.some((node) => node['Relation Name'] === 'webhook_messages')).toBe(true);
  expect(readsWholeQueue(plan)).toBe(false);
}

describe('the delivery statements on a queue whose statistics say it is empty', () => {
  let claimStatements: Statement[];
  let recordStatements: Statement[];
  let queueStatements: Statement[];

  beforeAll(async () => {
    // The queue measured while empty (as autovacuum or a VACUUM ANALYZE may), then never again.
    await test.db.query('ALTER TABLE webhook_messages SET (autovacuum_enabled = false)');
    await test.db.query('ANALYZE webhook_messages');
    for (const name of ['first', 'second']) {
      await test.api.post('/v1/webhooks', { url: `http://127.0.0.1:9/${name}` }).expect(200);
    }
    let next = 0;
    const client = async () => {
      while (next < CUSTOMERS) {
        next += 1;
        const { id } = (await test.api.post('/v1/customers', { source_id: unique('queued') }).expect(200)).body;
        await test.api.put(`/v1/customers/${id}`, { name: 'Updated' }).expect(200);
      }
    };
    await Promise.all(Array.from({ length: CONCURRENT_REQUESTS }, client));
    // The feed numbers the events; the store queues them for both endpoints.
    await test.api.get('/v1/customer-events?limit=1').expect(200);
    const { pool, statements } = recordingPool(test.db);
    const store = createWebhookStore(pool);
    await queueTheFeed(store);
    statements.length = 0;
    const { claimed } = await store.round({ free: 100, ...LEASE }, 86_400_000, 'whd_test');
    claimStatements = statements.splice(0);
    const outcomes: MessageOutcome[] = claimed.map((message, index) => ({
      endpointId: message.endpoint_id,
      eventId: message.event.id,
      attempt: message.attempts,
      deliveryId: `whd_test${index}`,
      statusCode: index % 2 === 0 ? 200 : 500,
      error: index % 2 === 0 ? null : 'answered 500',
      durationMs: 1,
      delivered: index % 2 === 0,
      retryInMs: 1000,
      direct: false,
    }));
    await store.round({ outcomes, ...LEASE }, 86_400_000, 'whd_test');
    recordStatements = statements.splice(0);
    // The queue has caught up with the feed: one more event, for a queueing statement to plan.
    await test.api.post('/v1/customers', { source_id: unique('queued') }).expect(200);
    await test.api.get('/v1/customer-events?limit=1').expect(200);
    await queueTheFeed(store);
    queueStatements = statements.splice(0);
  }, 120_000);

  it('is a queue of thousands of messages that PostgreSQL believes empty', async () => {
    const { rows } = await test.db.query<{ reltuples: number; queued: number }>(
      `SELECT reltuples, (SELECT count(*)::int FROM webhook_messages) AS queued
       FROM pg_class WHERE oid = 'webhook_messages'::regclass`,
    );
    expect(rows[0]!.reltuples).toBe(0);
    expect(rows[0]!.queued).toBeGreaterThanOrEqual(2 * 2 * CUSTOMERS - 100);
  });

  it('left to its statistics, the planner reads the whole queue (what the settings are for)', async () => {
    const plans = [
      await replayedPlan(claimStatements, CLAIM, { settings: false }),
      await replayedPlan(recordStatements, RECORD, { settings: false }),
      await replayedPlan(queueStatements, READ, { settings: false }),
      await replayedPlan(queueStatements, QUEUE, { settings: false }),
    ];
    expect(plans.some(readsWholeQueue)).toBe(true);
  });

  it('claims through the heads index and finds the claimed rows by TID', async () => {
    const plan = await replayedPlan(claimStatements, CLAIM);
    expectKeyedPaths(plan);
    expect(plan.map((node) => node['Node Type'])).toContain('Tid Scan');
  });

  it('records outcomes by key', async () => {
    expectKeyedPaths(await replayedPlan(recordStatements, RECORD));
  });

  it('reads the feed, and finds the customers with messages queued, by key', async () => {
    expectKeyedPaths(await replayedPlan(queueStatements, READ));
  });

  it('queues events by key', async () => {
    expectKeyedPaths(await replayedPlan(queueStatements, QUEUE));
  });
});
