import { createHmac, hkdfSync } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import supertest from 'supertest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type App } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { APP_ID, APP_SECRET, COCKPIT_SECRET, PUBLIC_URL, useTestApp } from './support/app.js';
import { chromiumMissing, openBrowser } from './support/browser.js';
import { cockpitUrl, customerNotFound, testCockpitLinks, unique } from './support/customers.js';

const test = useTestApp();

/** The path and query of a cockpit link, to request from the app under test. */
const pathOf = (url: string): string => url.slice(PUBLIC_URL.length);

const create = async (body: Record<string, unknown>) =>
  (await test.api.post('/v1/customers', body).expect(200)).body as { id: string; assets: { cockpit_url: string } };

const notFoundPage = async (path: string) => {
  const response = await test.raw().get(path).expect(404).expect('content-type', 'text/html; charset=utf-8');
  expect(response.text).toContain('<h1>Not found</h1>');
  expect(response.text).not.toContain('cust_');
  return response;
};

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

describe('assets.cockpit_url', () => {
  it('is PUBLIC_URL/cockpit/{id} with the id and an expiry signed by a key derived from COCKPIT_SECRET', async () => {
    const before = Date.now();
    const customer = await create({ name: 'Signed' });
    const after = Date.now();
    expect(customer.assets.cockpit_url).toBe(cockpitUrl(customer.id));
    expect(customer.assets.cockpit_url).toMatch(
      /^https:\/\/customers\.example\.test\/cockpit\/cust_\w{24}\?token=[\w-]{8}\.\d{13}\.[\w-]{43}$/,
    );
    // The rule, computed here on its own: key id, expiry, HMAC-SHA256 of `<id>.<expiry>`.
    const [keyId, expiry, signature] = new URL(customer.assets.cockpit_url).searchParams.get('token')!.split('.');
    const derived = (info: string, length: number) =>
      Buffer.from(hkdfSync('sha256', COCKPIT_SECRET, Buffer.alloc(0), info, length));
    expect(keyId).toBe(derived('link-key-id', 6).toString('base64url'));
    expect(signature).toBe(
      createHmac('sha256', derived('cockpit-links', 32)).update(`${customer.id}.${expiry}`).digest('base64url'),
    );
    // The default lifetime: 168 hours, up to the next UTC midnight.
    const expiresAt = Number(expiry);
    expect(expiresAt % DAY_MS).toBe(0);
    expect(expiresAt).toBeGreaterThanOrEqual(before + 168 * HOUR_MS);
    expect(expiresAt).toBeLessThan(after + 168 * HOUR_MS + DAY_MS);
  });

  it('is the same link all day, so a customer read twice is the same body', async () => {
    const customer = await create({ name: 'Stable' });
    const read = await test.api.get(`/v1/customers/${customer.id}`).expect(200);
    expect(read.body.assets.cockpit_url).toBe(customer.assets.cockpit_url);
  });
});

describe('cockpit links expire', () => {
  it('a link handed out longer ago than its lifetime (and the rest of that day) opens nothing', async () => {
    const customer = await create({ name: 'Expired link' });
    // Handed out 8 days ago: it expired at the midnight 168 to 192 hours after that, before now.
    await notFoundPage(pathOf(testCockpitLinks.url(customer.id, null, Date.now() - 8 * DAY_MS)));
    // Handed out 6 days ago: it still works.
    await test
      .raw()
      .get(pathOf(testCockpitLinks.url(customer.id, null, Date.now() - 6 * DAY_MS)))
      .expect(200);
  });

  it('a link whose expiry was changed opens nothing', async () => {
    const customer = await create({ name: 'Tampered link' });
    const [keyId, expiry, signature] = new URL(customer.assets.cockpit_url).searchParams.get('token')!.split('.');
    await notFoundPage(`/cockpit/${customer.id}?token=${keyId}.${Number(expiry) + DAY_MS}.${signature}`);
  });
});

describe('POST /v1/customers/:customerId/cockpit-link/revoke', () => {
  const revoke = async (key: string) =>
    (await test.api.post(`/v1/customers/${encodeURIComponent(key)}/cockpit-link/revoke`).expect(200)) as {
      body: { id: string; updated_at?: string; assets: { cockpit_url: string } };
      headers: Record<string, string>;
    };

  it("stops every link handed out so far, answers the customer's new link, and changes nothing else", async () => {
    const customer = await create({ name: 'Leaked link' });
    const read = await test.api.get(`/v1/customers/${customer.id}`).expect(200);
    // A link handed out six days ago that has not expired yet is revoked as well.
    const older = testCockpitLinks.url(customer.id, null, Date.now() - 6 * DAY_MS);
    await test.raw().get(pathOf(older)).expect(200);

    const revoked = await revoke(customer.id);
    const { assets: newAssets, ...rest } = revoked.body;
    const { assets: oldAssets, ...before } = read.body;
    expect(rest).toEqual(before);
    expect(newAssets.cockpit_url).not.toBe(oldAssets.cockpit_url);
    expect(revoked.headers.etag).not.toBe(read.headers.etag);

    await notFoundPage(pathOf(customer.assets.cockpit_url));
    await notFoundPage(pathOf(older));
    await test.raw().get(pathOf(newAssets.cockpit_url)).expect(200);
    // Reads hand out the new link from now on, the same all day.
    const again = await test.api.get(`/v1/customers/${customer.id}`).expect(200);
    expect(again.body.assets.cockpit_url).toBe(newAssets.cockpit_url);
    // Not a change of the customer: no event.
    const activity = await test.api.get(`/v1/customers/${customer.id}/activity`).expect(200);
    expect(activity.body.data.map((event: { type: string }) => event.type)).toEqual(['customer.created']);
  });

  it('revokes the link of a revocation earlier the same day too', async () => {
    const customer = await create({ name: 'Twice' });
    const first = await revoke(customer.id);
    const second = await revoke(customer.id);
    await notFoundPage(pathOf(first.body.assets.cockpit_url));
    await test.raw().get(pathOf(second.body.assets.cockpit_url)).expect(200);
  });

  it("leaves other customers' links working", async () => {
    const revoked = await create({ name: 'Revoked' });
    const other = await create({ name: 'Untouched' });
    await revoke(revoked.id);
    await test.raw().get(pathOf(other.assets.cockpit_url)).expect(200);
  });

  it('finds the customer by source_id, as GET does', async () => {
    const sourceId = unique('revoke-by-source');
    const customer = await create({ source_id: sourceId });
    const revoked = await revoke(sourceId);
    expect(revoked.body.id).toBe(customer.id);
    await notFoundPage(pathOf(customer.assets.cockpit_url));
  });

  it('gives the events written after it the new link, in activity and in the feed', async () => {
    const customer = await create({ name: 'Events after' });
    const { body } = await revoke(customer.id);
    await test.api.put(`/v1/customers/${customer.id}`, { name: 'Renamed' }).expect(200);
    const activity = await test.api.get(`/v1/customers/${customer.id}/activity`).expect(200);
    for (const event of activity.body.data) expect(event.data.customer.assets.cockpit_url).toBe(body.assets.cockpit_url);
    const feed = await test.api.get('/v1/customer-events?limit=100&type=customer.updated').expect(200);
    const updated = feed.body.data.find(
      (event: { data: { customer: { id: string } } }) => event.data.customer.id === customer.id,
    );
    expect(updated.data.customer.assets.cockpit_url).toBe(body.assets.cockpit_url);
    await test.raw().get(pathOf(updated.data.customer.assets.cockpit_url)).expect(200);
  });

  it('answers 404 in the Error shape for an unknown or deleted customer', async () => {
    const response = await test.api.post('/v1/customers/cust_sehkNIi8Uq2qQuRqSr7xn4Z/cockpit-link/revoke').expect(404);
    expect(response.body).toEqual(customerNotFound('cust_sehkNIi8Uq2qQuRqSr7xn4Z'));
    const gone = await create({ name: 'Gone' });
    await test.api.delete(`/v1/customers/${gone.id}`).expect(204);
    await test.api.post(`/v1/customers/${gone.id}/cockpit-link/revoke`).expect(404);
  });
});

describe('COCKPIT_LINK_TTL_HOURS', () => {
  const shortLived = useTestApp({ COCKPIT_LINK_TTL_HOURS: '1' });

  it('sets the lifetime of the links handed out', async () => {
    const before = Date.now();
    const customer = (await shortLived.api.post('/v1/customers', { name: 'Short-lived' }).expect(200)).body;
    const expiresAt = Number(new URL(customer.assets.cockpit_url).searchParams.get('token')!.split('.')[1]);
    expect(expiresAt).toBe(Math.ceil((before + HOUR_MS) / DAY_MS) * DAY_MS);
  });
});

describe('GET /cockpit/:customerId', () => {
  it("serves the customer's profile as a read-only HTML page", async () => {
    const customer = await create({
      source_id: unique('cockpit'),
      name: 'Ada Lovelace',
      email: 'ada@example.com',
      address: { city: 'London', country: 'UK' },
      metadata: { tier: 'gold' },
    });
    const response = await test.raw().get(pathOf(customer.assets.cockpit_url)).expect(200);
    expect(response.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(response.headers['cache-control']).toBe('no-store');
    expect(response.headers['content-security-policy']).toBe(
      "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    );
    expect(response.headers['referrer-policy']).toBe('no-referrer');
    expect(response.text).toContain('<title>Ada Lovelace</title>');
    expect(response.text).toContain(`<p class="id">${customer.id}</p>`);
    expect(response.text).toContain('<dt>Email</dt><dd>ada@example.com</dd>');
    expect(response.text).toContain('<dt>Address</dt><dd>London, UK</dd>');
    expect(response.text).toContain('&quot;tier&quot;: &quot;gold&quot;');
    expect(response.text).not.toMatch(/<script|<form|<input/);
  });

  it('escapes every value', async () => {
    const attack = `<script>alert(1)</script><img src=x onerror="alert('x')">&amp;`;
    const customer = await create({ name: attack, description: attack, metadata: { [attack.slice(0, 90)]: attack } });
    const response = await test.raw().get(pathOf(customer.assets.cockpit_url)).expect(200);
    expect(response.text).not.toContain('<script>');
    expect(response.text).not.toContain('<img');
    expect(response.text).toContain(
      '&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=&quot;alert(&#39;x&#39;)&quot;&gt;&amp;amp;',
    );
  });

  it("answers the same 404 page to a forged token, a missing one, and another customer's", async () => {
    const mine = await create({ name: 'Mine' });
    const theirs = await create({ name: 'Theirs' });
    const theirToken = new URL(theirs.assets.cockpit_url).searchParams.get('token')!;
    await notFoundPage(`/cockpit/${mine.id}?token=${theirToken}`);
    await notFoundPage(`/cockpit/${mine.id}?token=${'A'.repeat(43)}`);
    await notFoundPage(`/cockpit/${mine.id}?token=`);
    await notFoundPage(`/cockpit/${mine.id}`);
    await notFoundPage(`/cockpit/${mine.id}?token=${'A'.repeat(500)}`);
  });

  it.each([
    ['a NUL in the token', (id: string) => `/cockpit/${id}?token=%00`],
    ['a NUL in the customer id', () => `/cockpit/%00?token=${'A'.repeat(43)}`],
    ['a NUL in a customer id signed for it', () => pathOf(cockpitUrl('\u0000'))],
    ['a broken percent-encoding in the token', (id: string) => `/cockpit/${id}?token=%E0%A4%A`],
    ['a lone surrogate in the token', (id: string) => `/cockpit/${id}?token=%ED%A0%80`],
  ])('answers the 404 page, not an error, to %s', async (_case, path) => {
    const customer = await create({ name: 'Odd link' });
    await notFoundPage(path(customer.id));
  });

  it('answers 404 for a deleted customer, even with its genuine link', async () => {
    const customer = await create({ source_id: unique('gone') });
    await test.api.delete(`/v1/customers/${customer.id}`).expect(204);
    await notFoundPage(pathOf(customer.assets.cockpit_url));
  });

  it('does not find a customer by source_id, even with a token signed for that text', async () => {
    const sourceId = unique('by-source');
    await create({ source_id: sourceId });
    await notFoundPage(pathOf(cockpitUrl(sourceId)));
  });
});

describe('GET /cockpit/:customerId while the database is out of reach', () => {
  let app: App;
  beforeAll(async () => {
    // Nothing listens on port 1.
    const config = loadConfig({
      DATABASE_URL: 'postgresql://postgres@127.0.0.1:1/none',
      API_KEYS: `${APP_ID}:${APP_SECRET}`,
      PUBLIC_URL,
      COCKPIT_SECRET,
    });
    app = await buildApp({ config, logger: false });
    await app.ready();
  });
  afterAll(() => app.close());

  it('answers a genuine link with a 503 page to retry, not an error', async () => {
    const response = await supertest(app.server)
      .get(pathOf(cockpitUrl('cust_000000000000000000000001')))
      .expect(503);
    expect(response.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(response.headers['retry-after']).toBe('1');
    expect(response.text).toContain('<h1>Unavailable</h1>');
  });
});

describe.skipIf(chromiumMissing)('the cockpit page in a browser', () => {
  it('shows the profile, runs nothing injected, and shows a not-found page for a forged link', async () => {
    await test.app.listen({ host: '127.0.0.1', port: 0 });
    const origin = `http://127.0.0.1:${(test.app.server.address() as AddressInfo).port}`;
    const injected = `<img src=x onerror="document.title='pwned'">`;
    const customer = await create({ name: 'Grace Hopper', email: 'grace@example.com', description: injected });
    const browser = await openBrowser(origin);
    try {
      await browser.page.goto(`${origin}${pathOf(customer.assets.cockpit_url)}`);
      expect(await browser.page.title()).toBe('Grace Hopper');
      expect(await browser.page.locator('h1').textContent()).toBe('Grace Hopper');
      expect(await browser.page.locator('dd', { hasText: 'grace@example.com' }).count()).toBe(1);
      expect(await browser.page.locator('dd', { hasText: injected }).count()).toBe(1);
      expect(await browser.page.locator('img').count()).toBe(0);
      expect(browser.errors).toEqual([]);

      const forged = await browser.page.goto(`${origin}/cockpit/${customer.id}?token=${'B'.repeat(43)}`);
      expect(forged?.status()).toBe(404);
      expect(await browser.page.locator('h1').textContent()).toBe('Not found');
      expect(browser.outsideRequests).toEqual([]);
      expect(browser.errors).toEqual(['Failed to load resource: the server responded with a status of 404 (Not Found)']);
    } finally {
      await browser.close();
    }
  });
});
