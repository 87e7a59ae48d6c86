import { describe, expect, it } from 'vitest';
import { APP_SECRET, useTestApp } from './support/app.js';
import { errorBody } from './support/customers.js';
import { expectReferenceSchema } from './support/reference.js';

// A second app id, to show that each app id has its own budget.
const test = useTestApp({ RATE_LIMIT_PER_MINUTE: '3', API_KEYS: `test-app:${APP_SECRET},other-app:other-secret` });

describe('rate limiting on /v1', () => {
  it('allows RATE_LIMIT_PER_MINUTE requests per app id a minute, then answers 429 with Retry-After', async () => {
    const before = Date.now();
    const allowed = [];
    for (let index = 0; index < 3; index++) allowed.push(await test.api.get('/v1/customers?limit=1').expect(200));
    const after = Date.now();
    expect(allowed.map((response) => response.headers['x-rate-limit-limit'])).toEqual(['3', '3', '3']);
    expect(allowed.map((response) => response.headers['x-rate-limit-remaining'])).toEqual(['2', '1', '0']);
    // The window opened with the first request: it resets a minute later, in Unix seconds.
    const resetAt = Number(allowed[0]!.headers['x-rate-limit-retry']);
    expect(resetAt).toBeGreaterThanOrEqual(Math.floor((before + 60_000) / 1000));
    expect(resetAt).toBeLessThanOrEqual(Math.ceil((after + 60_000) / 1000));

    const limited = await test.api.get('/v1/customers?limit=1').expect(429);
    expect(limited.body).toEqual(
      errorBody(429, 'too_many_requests', 'Too many requests', {
        details: `More than 3 requests in a minute for this app id: retry in ${limited.headers['retry-after']} s`,
      }),
    );
    // The seconds left of the window that opened with the first request, however long these took.
    const elapsedSeconds = Math.ceil((Date.now() - before) / 1000);
    expect(Number(limited.headers['retry-after'])).toBeGreaterThanOrEqual(60 - elapsedSeconds);
    expect(Number(limited.headers['retry-after'])).toBeLessThanOrEqual(60);
    expect(limited.headers['x-rate-limit-remaining']).toBe('0');
    expect(limited.headers['x-rate-limit-limit']).toBe('3');
    expectReferenceSchema('Error', limited.body);
  });

  it('counts each app id on its own', async () => {
    const other = await test
      .raw()
      .get('/v1/customers?limit=1')
      .set({ 'X-App-Id': 'other-app', 'X-App-Token': 'other-secret' })
      .expect(200);
    expect(other.headers['x-rate-limit-remaining']).toBe('2');
  });

  it('does not count requests that fail authentication, nor limit health checks', async () => {
    const unauthorized = await test.raw().get('/v1/customers').set({ 'X-App-Id': 'other-app', 'X-App-Token': 'wrong' });
    expect(unauthorized.status).toBe(401);
    expect(unauthorized.headers['x-rate-limit-remaining']).toBeUndefined();
    for (let index = 0; index < 5; index++) await test.raw().get('/health/live').expect(200);
    const other = await test
      .raw()
      .get('/v1/customers?limit=1')
      .set({ 'X-App-Id': 'other-app', 'X-App-Token': 'other-secret' })
      .expect(200);
    expect(other.headers['x-rate-limit-remaining']).toBe('1');
  });
});

describe('RATE_LIMIT_PER_MINUTE=0', () => {
  const unlimited = useTestApp({ RATE_LIMIT_PER_MINUTE: '0' });

  it('turns rate limiting off', async () => {
    for (let index = 0; index < 5; index++) {
      const response = await unlimited.api.get('/v1/customers?limit=1').expect(200);
      expect(response.headers['x-rate-limit-limit']).toBeUndefined();
    }
  });
});
