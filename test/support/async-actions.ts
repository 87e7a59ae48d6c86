import { expect } from 'vitest';
import type { TestApp } from './app.js';
import { ANY_REQUEST_ID, ANY_TIMESTAMP } from './customers.js';
import { PATIENCE_MS, until } from './wait.js';

export const ANY_ASYNC_ACTION_ID = expect.stringMatching(/^aa_[0-9a-f]{18}$/);

/** The report fields of an ended BULK_UPDATE or METADATA_UPDATE result: a signed link, and its expiry. */
export const ANY_REPORT = {
  reports: [
    expect.stringMatching(
      /^https:\/\/customers\.example\.test\/async-action-reports\/aa_[0-9a-f]{18}\?token=[\w-]{8}\.\d{13}\.[\w-]{43}$/,
    ),
  ],
  reports_available_till: ANY_TIMESTAMP,
};

/** Polls GET /v1/async-actions/{id} until the action is DONE or FAILED; returns its body. */
export async function finishedAction(api: TestApp['api'], id: string, timeoutMs = PATIENCE_MS): Promise<Record<string, any>> {
  let action: Record<string, any> = {};
  await until(
    async () => {
      action = (await api.get(`/v1/async-actions/${id}`).expect(200)).body;
      return action.status === 'DONE' || action.status === 'FAILED';
    },
    `async action ${id} to finish`,
    timeoutMs,
  );
  return action;
}

/** The whole async action body of a finished action with this result. */
export const doneAction = (type: string, result: Record<string, unknown>, extra: Record<string, unknown> = {}) => ({
  id: ANY_ASYNC_ACTION_ID,
  type,
  status: 'DONE',
  operation_status: 'SUCCESS',
  created_at: ANY_TIMESTAMP,
  updated_at: ANY_TIMESTAMP,
  request_id: ANY_REQUEST_ID,
  progress: 100,
  processing_time: expect.any(Number),
  object: 'async_action',
  result,
  ...extra,
});
