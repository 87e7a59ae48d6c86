import { describe, expect, it } from 'vitest';
import { createCockpitLinks } from '../src/customers/cockpit.js';
import { createReportLinks } from '../src/jobs/report-links.js';
import { COCKPIT_SECRET, PUBLIC_URL, useTestApp } from './support/app.js';
import { finishedAction } from './support/async-actions.js';
import { cockpitUrl, unique } from './support/customers.js';

/** The secret after the rotation; COCKPIT_SECRET (the one of every other test app) is the previous one. */
const NEW_SECRET = 'rotated-cockpit-secret-0f9e8d7c6b5a4321';
/** A secret this service never had. */
const FOREIGN_SECRET = 'foreign-cockpit-secret-1a2b3c4d5e6f7890';

const DAY_MS = 24 * 3_600_000;

/** The path and query of a link, to request from the app under test (no API key). */
const pathOf = (url: string): string => url.slice(PUBLIC_URL.length);

const signedBy = (secret: string) => ({ current: secret, previous: [] });

// The app as it runs after the documented rotation: COCKPIT_SECRET=<new>, COCKPIT_PREVIOUS_SECRETS=<old>.
describe('a rotation of COCKPIT_SECRET, with the former secret in COCKPIT_PREVIOUS_SECRETS', () => {
  const test = useTestApp({ COCKPIT_SECRET: NEW_SECRET, COCKPIT_PREVIOUS_SECRETS: COCKPIT_SECRET });
  const create = async () => (await test.api.post('/v1/customers', { source_id: unique('rotated') }).expect(200)).body;

  it('keeps the cockpit links signed before it working, and hands out links signed with the new secret', async () => {
    const customer = await create();
    const handedOutBefore = cockpitUrl(customer.id);
    await test.raw().get(pathOf(handedOutBefore)).expect(200);

    expect(customer.assets.cockpit_url).not.toBe(handedOutBefore);
    expect(customer.assets.cockpit_url).toBe(
      createCockpitLinks({ publicUrl: PUBLIC_URL, secrets: signedBy(NEW_SECRET), ttlHours: 168 }).url(customer.id),
    );
    await test.raw().get(pathOf(customer.assets.cockpit_url)).expect(200);
  });

  it('keeps the old links only until they expire', async () => {
    const customer = await create();
    const old = createCockpitLinks({ publicUrl: PUBLIC_URL, secrets: signedBy(COCKPIT_SECRET), ttlHours: 168 });
    await test
      .raw()
      .get(pathOf(old.url(customer.id, null, Date.now() - 8 * DAY_MS)))
      .expect(404);
  });

  it('opens nothing with a link of a secret that is not configured', async () => {
    const customer = await create();
    const foreign = createCockpitLinks({ publicUrl: PUBLIC_URL, secrets: signedBy(FOREIGN_SECRET), ttlHours: 168 });
    await test
      .raw()
      .get(pathOf(foreign.url(customer.id)))
      .expect(404);
  });

  it('keeps the report links signed before it working too', async () => {
    const accepted = await test.api.post('/v1/customers/bulk/async', [{ source_id: unique('report') }]).expect(202);
    const action = await finishedAction(test.api, accepted.body.async_action_id);
    const till = action.result.reports_available_till as string;
    const handedOutBefore = createReportLinks({ publicUrl: PUBLIC_URL, secrets: signedBy(COCKPIT_SECRET) }).url(action.id, till);
    const now = createReportLinks({ publicUrl: PUBLIC_URL, secrets: signedBy(NEW_SECRET) }).url(action.id, till);
    const foreign = createReportLinks({ publicUrl: PUBLIC_URL, secrets: signedBy(FOREIGN_SECRET) }).url(action.id, till);

    expect(action.result.reports).toEqual([now]);
    expect(now).not.toBe(handedOutBefore);
    await test.raw().get(pathOf(handedOutBefore)).expect(200);
    await test.raw().get(pathOf(now)).expect(200);
    await test.raw().get(pathOf(foreign)).expect(404);
  });
});

// The step after: once the longest-lived old link has expired, the former secret is dropped.
describe('COCKPIT_SECRET alone, after the former secret was dropped', () => {
  const test = useTestApp({ COCKPIT_SECRET: NEW_SECRET });

  it('opens nothing with the links of the former secret', async () => {
    const customer = (await test.api.post('/v1/customers', { source_id: unique('dropped') }).expect(200)).body;
    await test
      .raw()
      .get(pathOf(cockpitUrl(customer.id)))
      .expect(404);
    await test.raw().get(pathOf(customer.assets.cockpit_url)).expect(200);
  });
});
