import { describe, expect, it } from 'vitest';
import { createWebhookStore } from '../src/webhooks/store.js';
import { useTestApp } from './support/app.js';
import { unique } from './support/customers.js';

// No worker in this process: a bulk action queued here stays unfinished.
const test = useTestApp({ WORKER_ENABLED: 'false', WEBHOOK_ALLOW_PRIVATE_URLS: 'true', RATE_LIMIT_PER_MINUTE: '0' });
const { api } = test;

describe('whether the delivery worker numbers the feed (FEED_NUMBERING_DUE)', () => {
  it('does while nothing else writes events in bulk or an endpoint waits for them, and leaves them to the feed readers while an async action is unfinished', async () => {
    const store = createWebhookStore(test.db);
    expect(await store.feedNumberingDue()).toBe(true);

    const { id } = (await api.post('/v1/customers', { source_id: unique('numbering') }).expect(200)).body;
    await api.post('/v1/customers/bulk/async', [{ source_id: unique('numbering'), name: 'Queued' }]).expect(202);
    expect(await store.feedNumberingDue()).toBe(false);

    // An endpoint needs its events numbered to get them, unfinished actions or not.
    const endpoint = (await api.post('/v1/webhooks', { url: 'http://127.0.0.1:9/hook' }).expect(200)).body;
    expect(await store.feedNumberingDue()).toBe(true);
    await api.put(`/v1/webhooks/${endpoint.id}`, { enabled: false }).expect(200);
    expect(await store.feedNumberingDue()).toBe(false);

    // A reader of the feed numbers what it reads itself.
    const feed = (await api.get('/v1/customer-events?limit=100').expect(200)).body;
    expect(feed.data.map((event: { data: { customer: { id: string } } }) => event.data.customer.id)).toContain(id);

    await test.db.query(`UPDATE async_actions SET status = 'DONE'`);
    expect(await store.feedNumberingDue()).toBe(true);
  });
});
