import { describe, expect, it } from 'vitest';
import { useTestApp } from './support/app.js';
import { finishedAction } from './support/async-actions.js';
import { ANY_REQUEST_ID, ANY_TIMESTAMP, errorBody, invalidQuery, unique } from './support/customers.js';
import { expectReferenceSchema } from './support/reference.js';

// No worker in this process: accepted actions stay ENQUEUED, as when every worker is busy or down.
const queuedOnly = useTestApp({ WORKER_ENABLED: 'false' });
const worked = useTestApp();

const enqueue = async (api: typeof worked.api) =>
  (await api.post('/v1/customers/bulk/async', [{ source_id: unique('read') }]).expect(202)).body.async_action_id as string;

describe('GET /v1/async-actions/{id}', () => {
  it('shows an action no worker has taken yet as ENQUEUED, with an empty result', async () => {
    const id = await enqueue(queuedOnly.api);
    const response = await queuedOnly.api.get(`/v1/async-actions/${id}`).expect(200);
    expect(response.body).toEqual({
      id,
      type: 'CUSTOMERS.BULK_UPDATE',
      status: 'ENQUEUED',
      operation_status: 'UNKNOWN',
      created_at: ANY_TIMESTAMP,
      updated_at: ANY_TIMESTAMP,
      request_id: ANY_REQUEST_ID,
      progress: 0,
      processing_time: 0,
      object: 'async_action',
      // The report is linked once the action ends.
      result: { done_count: 0, failed_count: 0, failed: [], errors: [], reports: [] },
    });
    expectReferenceSchema('AsyncActionBase', response.body, 'async-actions');
  });

  it('answers 404 in the Error shape for an unknown id', async () => {
    const response = await worked.api.get('/v1/async-actions/aa_000000000000000000').expect(404);
    expect(response.body).toEqual(
      errorBody(404, 'not_found', 'Resource not found', {
        details: 'Cannot find async_action with id aa_000000000000000000',
        resource_id: 'aa_000000000000000000',
        resource_type: 'async_action',
      }),
    );
    expectReferenceSchema('Error', response.body, 'async-actions');
  });

  it('measures processing from the first claim to the end', async () => {
    const id = await enqueue(worked.api);
    const action = await finishedAction(worked.api, id);
    const { rows } = await worked.db.query<{ started_at: Date; finished_at: Date }>(
      'SELECT started_at, finished_at FROM async_actions WHERE id = $1',
      [id],
    );
    expect(action.processing_time).toBe(rows[0]!.finished_at.getTime() - rows[0]!.started_at.getTime());
    expect(Date.parse(action.updated_at)).toBe(rows[0]!.finished_at.getTime());
  });
});

describe('GET /v1/async-actions', () => {
  it('lists actions newest first, without results, by pages of `limit`', async () => {
    const ids = [];
    for (let index = 0; index < 3; index += 1) ids.push(await enqueue(queuedOnly.api));
    const page = await queuedOnly.api.get('/v1/async-actions?limit=2').expect(200);
    expect(page.body).toEqual({
      object: 'list',
      data_ref: 'async_actions',
      async_actions: [ids[2], ids[1]].map((id) => ({
        id,
        type: 'CUSTOMERS.BULK_UPDATE',
        status: 'ENQUEUED',
        operation_status: 'UNKNOWN',
        created_at: ANY_TIMESTAMP,
        updated_at: ANY_TIMESTAMP,
        request_id: ANY_REQUEST_ID,
        progress: 0,
        processing_time: 0,
        object: 'async_action',
      })),
      has_more: true,
    });
    expectReferenceSchema('AsyncActionsListResponseBody', page.body, 'async-actions');
  });

  it('lists only actions created before `end_date`', async () => {
    const before = await enqueue(queuedOnly.api);
    const { created_at: createdAt } = (await queuedOnly.api.get(`/v1/async-actions/${before}`).expect(200)).body;
    await enqueue(queuedOnly.api);
    const listed = await queuedOnly.api.get(`/v1/async-actions?limit=100&end_date=${encodeURIComponent(createdAt)}`).expect(200);
    const later = new Date(Date.parse(createdAt) + 1).toISOString();
    const upTo = await queuedOnly.api.get(`/v1/async-actions?limit=100&end_date=${encodeURIComponent(later)}`).expect(200);
    const created = (page: { body: { async_actions: Array<{ created_at: string }> } }) =>
      page.body.async_actions.map((action) => Date.parse(action.created_at));
    // Whether the second action shares the first one's millisecond or not, each page holds
    // exactly the actions before its bound.
    expect(listed.body.async_actions.map((action: { id: string }) => action.id)).not.toContain(before);
    expect(created(listed).every((at) => at < Date.parse(createdAt))).toBe(true);
    expect(upTo.body.async_actions.map((action: { id: string }) => action.id)).toContain(before);
    expect(created(upTo).every((at) => at <= Date.parse(createdAt))).toBe(true);
  });

  it.each([
    ['limit=0', 'Property .limit must be >= 1'],
    ['limit=101', 'Property .limit must be <= 100'],
    ['end_date=yesterday', 'Property .end_date cannot be recognized as a ISO-8601 compliant date'],
    ['status=DONE', 'Property .status is not allowed'],
  ])('answers 400 to %s', async (query, details) => {
    const response = await worked.api.get(`/v1/async-actions?${query}`).expect(400);
    expect(response.body).toEqual(invalidQuery(details));
  });
});
