import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useTestApp } from './support/app.js';
import { sdkClient, type SdkClient } from './support/sdk.js';
import { ANY_ASYNC_ACTION_ID } from './support/async-actions.js';
import { unique } from './support/customers.js';
import { until } from './support/wait.js';

const test = useTestApp();
let client: SdkClient;
let directory: string;

beforeAll(async () => {
  client = await sdkClient(test);
  directory = await mkdtemp(join(tmpdir(), 'sdk-import-'));
});
afterAll(() => rm(directory, { recursive: true, force: true }));

/** What a client written for Voucherify does: poll asyncActions.get until the action is done. */
async function whenDone(id: string) {
  let action = await client.asyncActions.get(id);
  await until(async () => {
    action = await client.asyncActions.get(id);
    return action.status === 'DONE' || action.status === 'FAILED';
  }, `async action ${id} to finish`);
  return action;
}

describe('the official Voucherify JS SDK on async actions, unchanged', () => {
  it('customers.updateInBulk, then asyncActions.get', async () => {
    const [one, two] = [unique('sdk-bulk'), unique('sdk-bulk')];
    const accepted = await client.customers.updateInBulk([
      { source_id: one, name: 'One', address: { city: 'Paris' } },
      { source_id: two, email: 'two@example.com', metadata: { tier: 2 } },
    ]);
    expect(accepted).toEqual({ async_action_id: ANY_ASYNC_ACTION_ID });
    const action = await whenDone(accepted.async_action_id);
    expect(action).toMatchObject({
      id: accepted.async_action_id,
      type: 'CUSTOMERS.BULK_UPDATE',
      status: 'DONE',
      operation_status: 'SUCCESS',
      object: 'async_action',
      result: { done_count: 2, failed_count: 0, failed: [], errors: [] },
    });
    expect(await client.customers.get(one)).toMatchObject({ source_id: one, name: 'One', address: { city: 'Paris' } });
    expect(await client.customers.get(two)).toMatchObject({ email: 'two@example.com', metadata: { tier: 2 } });
  });

  it('customers.updateMetadataInBulk merges metadata', async () => {
    const sourceId = unique('sdk-metadata');
    await client.customers.create({ source_id: sourceId, metadata: { lang: 'en' } });
    const accepted = await client.customers.updateMetadataInBulk({ source_ids: [sourceId], metadata: { vip: true } });
    const action = await whenDone(accepted.async_action_id);
    expect(action).toMatchObject({
      type: 'CUSTOMERS.METADATA_UPDATE',
      status: 'DONE',
      result: { done_count: 1, failed_count: 0 },
    });
    expect(await client.customers.get(sourceId)).toMatchObject({ metadata: { lang: 'en', vip: true } });
  });

  it('customers.importCSV uploads a file, and asyncActions.list shows the action', async () => {
    const sourceId = unique('sdk-csv');
    const path = join(directory, 'customers.csv');
    await writeFile(path, `Source_id,Name,Email,lang\n${sourceId},Csv Customer,csv@example.com,de\n${sourceId}-bad,,nope,\n`);
    const accepted = await client.customers.importCSV(path);
    expect(accepted).toEqual({ async_action_id: ANY_ASYNC_ACTION_ID });
    const action = await whenDone(accepted.async_action_id);
    expect(action).toMatchObject({
      type: 'CUSTOMERS.IMPORT_CSV',
      status: 'DONE',
      result: {
        message: '1 customer(s) imported successfully, 1 failed.',
        done_count: 1,
        failed_count: 1,
        failed: [{ source_id: `${sourceId}-bad`, row: 2, reason: 'Property .email must be a valid email address' }],
      },
    });
    expect(await client.customers.get(sourceId)).toMatchObject({
      name: 'Csv Customer',
      email: 'csv@example.com',
      metadata: { lang: 'de' },
    });
    const listed = await client.asyncActions.list({ limit: 1 });
    expect(listed).toMatchObject({
      object: 'list',
      data_ref: 'async_actions',
      async_actions: [{ id: accepted.async_action_id }],
    });
  });

  it('surfaces an unknown async action the way the SDK reports API errors', async () => {
    await expect(client.asyncActions.get('aa_000000000000000000')).rejects.toMatchObject({
      code: 404,
      key: 'not_found',
      resource_type: 'async_action',
    });
  });
});
