import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { APP_SECRET, PUBLIC_URL, useTestApp } from './support/app.js';

const stream = new PassThrough();
const output: string[] = [];
stream.on('data', (chunk: Buffer) => output.push(chunk.toString()));
const test = useTestApp({ LOG_LEVEL: 'info' }, { logStream: stream });

const logLines = () =>
  output
    .join('')
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);

describe('logs', () => {
  it('are JSON lines, every line of a request labelled with its request id, without secrets', async () => {
    const created = await test.api.post('/v1/customers', { name: 'Logged' }).expect(200);
    const cockpitPath = (created.body.assets.cockpit_url as string).slice(PUBLIC_URL.length);
    const token = new URL(created.body.assets.cockpit_url).searchParams.get('token')!;
    await test.raw().get(cockpitPath).expect(200);
    await test.raw().get('/v1/customers').set({ 'X-App-Id': 'test-app', 'X-App-Token': 'wrong-token-value' }).expect(401);

    const lines = logLines();
    const requestLines = lines.filter((line) => 'req' in line || 'res' in line);
    // One line per request, when it is answered.
    expect(requestLines.length).toBe(3);
    for (const line of requestLines) expect(line.request_id).toMatch(/^v-[0-9a-f]{18}$/);
    expect(requestLines.filter((line) => line.request_id === created.headers['x-request-id'])).toHaveLength(1);
    expect(requestLines.map((line) => [line.msg, (line.res as { statusCode: number }).statusCode])).toEqual([
      ['request completed', 200],
      ['request completed', 200],
      ['request completed', 401],
    ]);

    const incoming = requestLines.map((line) => line.req);
    expect(incoming).toEqual([
      { method: 'POST', url: '/v1/customers', host: expect.any(String), remoteAddress: expect.any(String), appId: 'test-app' },
      {
        method: 'GET',
        url: `${cockpitPath.slice(0, cockpitPath.indexOf('?'))}?[redacted]`,
        host: expect.any(String),
        remoteAddress: expect.any(String),
      },
      { method: 'GET', url: '/v1/customers', host: expect.any(String), remoteAddress: expect.any(String), appId: 'test-app' },
    ]);
    const everything = output.join('');
    for (const secret of [APP_SECRET, token, 'wrong-token-value']) expect(everything).not.toContain(secret);
  });

  it('leave out the query string of cockpit URLs, however the token is spelled', async () => {
    const created = await test.api.post('/v1/customers', { name: 'Spelled' }).expect(200);
    const { pathname, searchParams } = new URL(created.body.assets.cockpit_url);
    const token = searchParams.get('token')!;
    const spellings = [
      `?%74oken=${token}`,
      `?tok%65n=${token}`,
      `?token%3D${token}`,
      `?token[]=${token}`,
      `?TOKEN=${token}`,
      `?a=1&token=${token}`,
    ];
    const paths = [pathname, pathname.replace('/cockpit/', '/%63ockpit/'), pathname.replace('/cockpit/', '//Cockpit/')];
    const urls = paths.flatMap((path) => spellings.map((query) => `${path}${query}`));
    for (const url of urls) await test.raw().get(url);

    const logged = logLines()
      .filter((line) => line.msg === 'request completed')
      .slice(-urls.length)
      .map((line) => (line.req as { url: string }).url);
    expect(logged).toEqual(paths.flatMap((path) => spellings.map(() => `${path}?[redacted]`)));
    expect(output.join('')).not.toContain(token);
  });

  it('leave out the query string of report download links too', async () => {
    const secret = 'report-token-that-must-not-be-logged';
    await test.raw().get(`/async-action-reports/aa_0123456789abcdef01?%74oken=${secret}`);
    const line = logLines()
      .filter((entry) => entry.msg === 'request completed')
      .at(-1)!;
    expect((line.req as { url: string }).url).toBe('/async-action-reports/aa_0123456789abcdef01?[redacted]');
    expect(output.join('')).not.toContain(secret);
  });

  it('redact credential headers wherever a line carries them', () => {
    test.app.log.info({ req: { headers: { 'x-app-token': APP_SECRET } }, headers: { authorization: 'Bearer x' } }, 'headers');
    const line = logLines().at(-1)!;
    expect(line).toMatchObject({ req: { headers: { 'x-app-token': '[redacted]' } }, headers: { authorization: '[redacted]' } });
  });
});
