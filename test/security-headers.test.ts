import { describe, expect, it } from 'vitest';
import { useTestApp } from './support/app.js';
import { errorBody } from './support/customers.js';

const test = useTestApp();

describe('security headers', () => {
  it.each([
    ['a /v1 answer', () => test.api.get('/v1/customers?limit=1')],
    ['an error', () => test.raw().get('/v1/customers')],
    ['the health check', () => test.raw().get('/health/live')],
    ['the API reference', () => test.raw().get('/docs/')],
  ])('are on %s', async (_case, request) => {
    const response = await request();
    expect(response.headers).toMatchObject({
      'x-content-type-options': 'nosniff',
      'x-frame-options': 'SAMEORIGIN',
      'referrer-policy': 'no-referrer',
      'cross-origin-opener-policy': 'same-origin',
      'cross-origin-resource-policy': 'same-origin',
    });
    expect(response.headers['content-security-policy']).toContain("default-src 'self'");
    expect(response.headers['content-security-policy']).toContain("script-src 'self'");
    // A service on plain HTTP in a private network must still load its own /docs assets.
    expect(response.headers['content-security-policy']).not.toContain('upgrade-insecure-requests');
    expect(response.headers['x-powered-by']).toBeUndefined();
    // Plain HTTP: no Strict-Transport-Security.
    expect(response.headers['strict-transport-security']).toBeUndefined();
  });

  it('leave out Strict-Transport-Security when X-Forwarded-Proto says https but no proxy is trusted', async () => {
    const response = await test.raw().get('/health/live').set('X-Forwarded-Proto', 'https').expect(200);
    expect(response.headers['strict-transport-security']).toBeUndefined();
  });
});

describe('Strict-Transport-Security behind a trusted proxy (TRUST_PROXY)', () => {
  const proxied = useTestApp({ TRUST_PROXY: '127.0.0.1' });

  it('is sent when the proxy says the request came over HTTPS, and not otherwise', async () => {
    const https = await proxied.raw().get('/health/live').set('X-Forwarded-Proto', 'https').expect(200);
    expect(https.headers['strict-transport-security']).toBe('max-age=31536000; includeSubDomains');
    const http = await proxied.raw().get('/health/live').set('X-Forwarded-Proto', 'http').expect(200);
    expect(http.headers['strict-transport-security']).toBeUndefined();
    const direct = await proxied.raw().get('/health/live').expect(200);
    expect(direct.headers['strict-transport-security']).toBeUndefined();
  });
});

describe('Cache-Control', () => {
  it.each([
    ['a customer', async () => test.api.get(`/v1/customers/${(await test.api.post('/v1/customers', {}).expect(200)).body.id}`)],
    ['a list', async () => test.api.get('/v1/customers?limit=1')],
    ['a refused request', async () => test.raw().get('/v1/customers')],
  ])('is no-store on %s: /v1 answers carry personal data', async (_case, request) => {
    expect((await request()).headers['cache-control']).toBe('no-store');
  });
});

describe('body limit', () => {
  const tooLarge = JSON.stringify({ name: 'x'.repeat(1024 * 1024) });
  const payloadTooLarge = errorBody(413, 'payload_too_large', 'Payload too large', { details: 'Request body is too large' });

  it('answers 413 to a PUT of a customer over 1 MiB', async () => {
    const created = (await test.api.post('/v1/customers', {}).expect(200)).body;
    const response = await test.api.put(`/v1/customers/${created.id}`).send(tooLarge).expect(413);
    expect(response.body).toEqual(payloadTooLarge);
  });

  it('accepts a body just under 1 MiB as far as validation', async () => {
    const justUnder = JSON.stringify({ name: 'x'.repeat(1024 * 1024 - 20) });
    expect(Buffer.byteLength(justUnder)).toBeLessThan(1024 * 1024);
    const response = await test.api.post('/v1/customers').send(justUnder).expect(400);
    expect(response.body.details).toBe('Property .name must NOT have more than 255 characters');
  });
});
