import { describe, expect, it } from 'vitest';
import { useTestApp } from './support/app.js';
import { finishedAction } from './support/async-actions.js';
import { unique } from './support/customers.js';

// Batches of two rows: a job's later batches start with the statement its previous batch
// mostly needed (updates after a batch of existing customers, inserts after one of new ones).
const test = useTestApp({ JOB_BATCH_SIZE: '2' });
const { api } = test;

describe('bulk updates over many batches', () => {
  it('create and update the right customers whichever statement a batch tries first', async () => {
    const ids = Array.from({ length: 8 }, () => unique('batch'));
    const existing = new Set([ids[0], ids[1], ids[2], ids[3], ids[6]]);
    for (const sourceId of existing) await api.post('/v1/customers', { source_id: sourceId, name: 'Before' }).expect(200);

    const accepted = await api
      .post(
        '/v1/customers/bulk/async',
        ids.map((sourceId, index) => ({ source_id: sourceId, name: `After ${index}` })),
      )
      .expect(202);
    const action = await finishedAction(api, accepted.body.async_action_id);
    expect(action.result).toMatchObject({ done_count: 8, failed_count: 0 });

    for (const [index, sourceId] of ids.entries()) {
      const customer = (await api.get(`/v1/customers/${sourceId}`).expect(200)).body;
      expect(customer.name).toBe(`After ${index}`);
      const events = (await api.get(`/v1/customers/${sourceId}/activity?order=created_at`).expect(200)).body.data;
      const fromBulk = events.filter((event: { group_id: string }) => event.group_id === accepted.headers['x-request-id']);
      expect(fromBulk.map((event: { type: string }) => event.type)).toEqual([
        existing.has(sourceId) ? 'customer.updated' : 'customer.created',
      ]);
    }
  });
});
