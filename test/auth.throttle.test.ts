import { describe, expect, it } from 'vitest';
import { APP_ID, APP_SECRET, useTestApp } from './support/app.js';
import { errorBody } from './support/customers.js';
import { expectReferenceSchema } from './support/reference.js';

const OTHER_SECRET = 'other-secret-0123456789abcdef0123456789';
// X-Forwarded-For is believed (TRUST_PROXY), so that one test can come from several addresses.
const test = useTestApp({
  API_KEYS: `${APP_ID}:${APP_SECRET},other-app:${OTHER_SECRET}`,
  AUTH_FAILURES_PER_MINUTE_PER_ADDRESS: '3',
  AUTH_FAILURES_PER_MINUTE_PER_APP: '5',
  TRUST_PROXY: 'true',
});

const from = (address: string, appId: string, token: string) =>
  test.raw().get('/v1/customers?limit=1').set({ 'X-Forwarded-For': address, 'X-App-Id': appId, 'X-App-Token': token });

const throttled = (source: string, retryAfter: string) =>
  errorBody(429, 'too_many_requests', 'Too many requests', {
    details: `Too many failed authentications ${source} in a minute: retry in ${retryAfter} s`,
  });

describe('failed authentications on /v1', () => {
  it('from one address, past AUTH_FAILURES_PER_MINUTE_PER_ADDRESS, are answered 429 with Retry-After, right credentials included', async () => {
    const failed = [];
    for (let attempt = 0; attempt < 3; attempt += 1) failed.push((await from('10.0.0.1', 'nobody', 'guess')).status);
    expect(failed).toEqual([401, 401, 401]);

    const guess = await from('10.0.0.1', 'nobody', 'guess').expect(429);
    const retryAfter = guess.headers['retry-after']!;
    expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
    expect(Number(retryAfter)).toBeLessThanOrEqual(60);
    expect(guess.body).toEqual(throttled('from this address', retryAfter));
    expectReferenceSchema('Error', guess.body);
    // A right guess is refused the same way: the answer tells nothing about the credentials.
    const right = await from('10.0.0.1', APP_ID, APP_SECRET).expect(429);
    expect(right.body.details).toMatch(/^Too many failed authentications from this address in a minute: retry in \d+ s$/);
    // Requests without credentials count too.
    await test.raw().get('/v1/customers').set('X-Forwarded-For', '10.0.0.2').expect(401);

    await from('10.0.0.2', APP_ID, APP_SECRET).expect(200);
  });

  it('naming one app id, past AUTH_FAILURES_PER_MINUTE_PER_APP from any addresses, are answered 429 for that app id only', async () => {
    const failed = [];
    for (const address of ['10.0.1.1', '10.0.1.1', '10.0.1.2', '10.0.1.2', '10.0.1.3']) {
      failed.push((await from(address, 'other-app', 'guess')).status);
    }
    expect(failed).toEqual([401, 401, 401, 401, 401]);

    const right = await from('10.0.1.4', 'other-app', OTHER_SECRET).expect(429);
    expect(right.body).toEqual(throttled('for this app id', right.headers['retry-after']!));
    await from('10.0.1.4', APP_ID, APP_SECRET).expect(200);
  });

  it('count on /v1 and on the management API together', async () => {
    const management = (address: string) =>
      test
        .raw()
        .get('/management/v1/projects/default/metadata-schemas')
        .set({ 'X-Forwarded-For': address, 'X-App-Id': 'someone', 'X-App-Token': 'guess' });
    expect([(await management('10.0.2.1')).status, (await management('10.0.2.1')).status]).toEqual([401, 401]);
    await from('10.0.2.1', 'someone', 'guess').expect(401);
    await from('10.0.2.1', APP_ID, APP_SECRET).expect(429);
    await management('10.0.2.1').expect(429);
  });
});
