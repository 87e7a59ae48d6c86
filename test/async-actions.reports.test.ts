import { parse } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { createReportLinks } from '../src/jobs/report-links.js';
import { createAsyncActionStore } from '../src/jobs/store.js';
import { COCKPIT_SECRET, PUBLIC_URL, useTestApp } from './support/app.js';
import { finishedAction } from './support/async-actions.js';
import { errorBody, unique } from './support/customers.js';
import { expectReferenceSchema } from './support/reference.js';

const test = useTestApp();
const { api } = test;

/** Sends a bulk update, waits for it to end, and answers its body. */
async function bulkUpdate(body: unknown) {
  const accepted = await api.post('/v1/customers/bulk/async', body).expect(202);
  return finishedAction(api, accepted.body.async_action_id);
}

/** The report link's path and query, as a client that holds the link requests it (no API key). */
const download = (url: string) => test.raw().get(url.slice(PUBLIC_URL.length));

const reportNotFound = (id: string) =>
  errorBody(404, 'not_found', 'Resource not found', {
    details: `Cannot find report with id ${id}`,
    resource_id: id,
    resource_type: 'report',
  });

const HOUR_MS = 60 * 60 * 1000;

describe('reports of bulk updates', () => {
  it('link a CSV of every input row once the action ends: created, updated or failed, in input order', async () => {
    const [created, existing, badEmail] = [unique('created'), unique('existing'), unique('bad-email')];
    await api.post('/v1/customers', { source_id: existing, name: 'Before' }).expect(200);
    const action = await bulkUpdate([
      { source_id: created, name: 'Created' },
      { source_id: badEmail, email: 'not an email' },
      { source_id: existing, name: 'After' },
      'not an object',
    ]);
    expectReferenceSchema('AsyncActionResultCustomersBulkUpdateResponseBody', action.result, 'async-actions');
    // Available for the default retention, 168 hours, from the end of the action.
    expect(Date.parse(action.result.reports_available_till) - Date.parse(action.updated_at)).toBe(168 * HOUR_MS);

    const report = await download(action.result.reports[0]).expect(200);
    expect(report.headers['content-type']).toBe('text/csv; charset=utf-8');
    expect(report.headers['content-disposition']).toBe(`attachment; filename="${action.id}-report.csv"`);
    expect(report.headers['cache-control']).toBe('no-store');
    expect(report.text).toBe(
      [
        'row,source_id,status,error_key,error_message',
        `1,${created},created,,`,
        `2,${badEmail},failed,invalid_payload,Property .email must be a valid email address`,
        `3,${existing},updated,,`,
        '4,,failed,invalid_payload,The item must be object',
        '',
      ].join('\n'),
    );
  });

  it('are linked by metadata updates too', async () => {
    const sourceId = unique('metadata');
    const accepted = await api
      .post('/v1/customers/metadata/async', { source_ids: [sourceId], metadata: { vip: true } })
      .expect(202);
    const action = await finishedAction(api, accepted.body.async_action_id);
    const report = await download(action.result.reports[0]).expect(200);
    expect(report.text).toBe(`row,source_id,status,error_key,error_message\n1,${sourceId},created,,\n`);
  });

  it('neutralize cells a spreadsheet would run as formulas, and quote what CSV needs quoted', async () => {
    const formulas = ['=HYPERLINK("http://evil.example","x")', '+1+2', '-3', '@SUM(A1)', '\tTab', '\rReturn'].map(
      (start) => `${start}-${unique('f')}`,
    );
    const action = await bulkUpdate(formulas.map((sourceId) => ({ source_id: sourceId, email: 'not, an email' })));
    const report = await download(action.result.reports[0]).expect(200);
    const rows = parse(report.text, { columns: true }) as Array<Record<string, string>>;
    expect(rows.map((row) => row.source_id)).toEqual(formulas.map((sourceId) => `'${sourceId}`));
    expect(
      rows.every((row) => row.status === 'failed' && row.error_message === 'Property .email must be a valid email address'),
    ).toBe(true);
  });

  it('stream a report of many rows in input order', async () => {
    const items = Array.from({ length: 2500 }, (_, index) => ({ source_id: unique(`many-${index}`) }));
    const action = await bulkUpdate(items);
    const report = await download(action.result.reports[0]).expect(200);
    const rows = parse(report.text, { columns: true }) as Array<Record<string, string>>;
    expect(rows.map((row) => row.row)).toEqual(items.map((_, index) => String(index + 1)));
    expect(rows.map((row) => row.source_id)).toEqual(items.map((item) => item.source_id));
  });

  it('answer 404 in the Error shape for a forged, foreign or malformed link', async () => {
    const action = await bulkUpdate([{ source_id: unique('forged') }]);
    const other = await bulkUpdate([{ source_id: unique('other') }]);
    const [url] = action.result.reports as string[];
    const token = new URL(url!).searchParams.get('token')!;
    const [keyId, expiresAt, signature] = token.split('.');

    const forged = `${keyId}.${expiresAt}.${signature!.slice(0, -1)}${signature!.endsWith('A') ? 'B' : 'A'}`;
    const later = `${keyId}.${Number(expiresAt) + 1}.${signature}`;
    const unknownKey = `AAAAAAAA.${expiresAt}.${signature}`;
    const beforeKeyIds = `${expiresAt}.${signature}`;
    for (const bad of [forged, later, unknownKey, beforeKeyIds, 'not-a-token', '']) {
      const answer = await test
        .raw()
        .get(`/async-action-reports/${action.id}?token=${encodeURIComponent(bad)}`)
        .expect(404);
      expect(answer.body).toEqual(reportNotFound(action.id));
    }
    // A valid token of one action opens no other.
    const foreign = await test.raw().get(`/async-action-reports/${other.id}?token=${token}`).expect(404);
    expect(foreign.body).toEqual(reportNotFound(other.id));
    await test.raw().get(`/async-action-reports/${action.id}`).expect(400);
  });

  it('answer 404 once expired, and their rows are dropped by the cleanup', async () => {
    const action = await bulkUpdate([{ source_id: unique('expires') }]);
    const kept = () => test.db.query('SELECT 1 FROM async_action_applied_rows WHERE action_id = $1', [action.id]);
    expect((await kept()).rowCount).toBe(1);
    // The action ended 200 hours ago: its report expired 32 hours ago. From here the app's own
    // idle worker may drop its rows at any moment, as the cleanup below does.
    const { rows } = await test.db.query<{ till: Date }>(
      `UPDATE async_actions SET reports_available_till = now() - interval '32 hours' WHERE id = $1 RETURNING reports_available_till AS till`,
      [action.id],
    );
    const expiredLink = createReportLinks({ publicUrl: PUBLIC_URL, secrets: { current: COCKPIT_SECRET, previous: [] } }).url(
      action.id,
      rows[0]!.till.toISOString(),
    );
    const answer = await download(expiredLink).expect(404);
    expect(answer.body).toEqual(reportNotFound(action.id));

    const store = createAsyncActionStore(test.db, { reportRetentionHours: 168 });
    while ((await store.dropExpiredReports(new Date().toISOString())) > 0);
    expect((await kept()).rowCount).toBe(0);
    // The result still says where the report was, and until when.
    const after = (await api.get(`/v1/async-actions/${action.id}`).expect(200)).body;
    expect(after.result.reports).toEqual([expiredLink]);
  });

  it('are not part of CSV imports', async () => {
    const accepted = await api
      .post('/v1/customers/importCSV')
      .attach('file', Buffer.from(`source_id\n${unique('csv')}\n`), 'customers.csv')
      .expect(202);
    const action = await finishedAction(api, accepted.body.async_action_id);
    expect(action.result).not.toHaveProperty('reports');
  });
});
