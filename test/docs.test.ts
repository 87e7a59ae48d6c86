import type { AddressInfo } from 'node:net';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { beforeAll, describe, expect, it } from 'vitest';
import { useTestApp } from './support/app.js';
import { chromiumMissing, openBrowser } from './support/browser.js';
import { withNullAllowed } from './support/reference.js';

const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

const test = useTestApp();

interface Operation {
  summary?: string;
  description?: string;
  tags?: string[];
  security?: unknown[];
  parameters?: { name: string; in: string; description?: string }[];
  requestBody?: { content: Record<string, { schema: { example?: unknown }; example?: unknown; examples?: unknown }> };
  responses: Record<
    string,
    { description?: string; content?: Record<string, { schema: { example?: unknown }; example?: unknown }> }
  >;
}
type OpenApi = { openapi: string; paths: Record<string, Record<string, Operation>>; components: Record<string, unknown> };

const hasExample = (media: { schema: { example?: unknown }; example?: unknown; examples?: unknown }) =>
  media.example !== undefined || media.examples !== undefined || media.schema.example !== undefined;

describe('GET /openapi.json', () => {
  let document: OpenApi;
  let v1Operations: [string, Operation][];
  beforeAll(async () => {
    const response = await test
      .raw()
      .get('/openapi.json')
      .expect(200)
      .expect('content-type', /application\/json/);
    document = response.body;
    v1Operations = Object.entries(document.paths)
      .filter(([path]) => path.startsWith('/v1/'))
      .flatMap(([path, operations]) =>
        Object.entries(operations).map(
          ([method, operation]) => [`${method.toUpperCase()} ${path}`, operation] as [string, Operation],
        ),
      );
  });

  it('is an OpenAPI 3 document with every customers operation', () => {
    expect(document.openapi).toBe('3.0.3');
    expect(v1Operations.map(([name]) => name).sort()).toEqual(
      expect.arrayContaining([
        'DELETE /v1/customers/{customerId}',
        'GET /v1/customers',
        'GET /v1/customers/{customerId}',
        'POST /v1/customers',
        'PUT /v1/customers/{customerId}',
      ]),
    );
  });

  it('leaves out the 405 catch-alls, the cockpit page and its own routes', () => {
    const paths = Object.keys(document.paths);
    expect(paths.filter((path) => /^\/(cockpit|docs|openapi)/.test(path))).toEqual([]);
    expect(Object.keys(document.paths['/v1/customers'] ?? {}).sort()).toEqual(['get', 'post']);
  });

  it('gives every /v1 operation a summary, a description, the credentials it needs and described parameters', () => {
    for (const [name, operation] of v1Operations) {
      expect(operation.summary, name).toMatch(/\w/);
      expect(operation.description, name).toMatch(/\w{3}/);
      expect(operation.security, name).toEqual([{ appId: [], appToken: [] }]);
      for (const parameter of operation.parameters ?? [])
        expect(parameter.description, `${name} ${parameter.name}`).toMatch(/\w/);
    }
    expect(document.components.securitySchemes).toEqual({
      appId: { type: 'apiKey', in: 'header', name: 'X-App-Id', description: 'Your application id.' },
      appToken: { type: 'apiKey', in: 'header', name: 'X-App-Token', description: "Your application's secret key." },
    });
  });

  it('gives every /v1 request body and successful JSON response an example', () => {
    for (const [name, operation] of v1Operations) {
      for (const [type, media] of Object.entries(operation.requestBody?.content ?? {})) {
        expect(hasExample(media), `${name} request ${type}`).toBe(true);
      }
      for (const [status, response] of Object.entries(operation.responses)) {
        if (!status.startsWith('2')) continue;
        for (const [type, media] of Object.entries(response.content ?? {})) {
          expect(hasExample(media), `${name} ${status} ${type}`).toBe(true);
        }
      }
    }
  });

  it('shows examples that are valid against their own schemas', () => {
    const ajv = new Ajv({ strict: false, allErrors: true });
    addFormats(ajv);
    ajv.addFormat('calendar-date', /^\d{4}-\d{2}-\d{2}$/).addFormat('iso-timestamp', /^\d{4}-\d{2}-\d{2}/);
    let checked = 0;
    for (const [name, operation] of v1Operations) {
      const media = [
        ...Object.values(operation.requestBody?.content ?? {}),
        ...Object.entries(operation.responses)
          .filter(([status]) => status.startsWith('2'))
          .flatMap(([, response]) => Object.values(response.content ?? {})),
      ];
      for (const { schema, example } of media) {
        const sample = example ?? schema.example;
        if (sample === undefined) continue;
        const validate = ajv.compile(withNullAllowed(schema) as object);
        validate(sample);
        expect(validate.errors ?? [], name).toEqual([]);
        checked++;
      }
    }
    expect(checked).toBeGreaterThanOrEqual(6);
  });

  it('documents the error responses with the Error body', () => {
    const get = document.paths['/v1/customers/{customerId}']?.get;
    expect(Object.keys(get?.responses ?? {}).sort()).toEqual(['200', '304', '401', '404']);
    expect(JSON.stringify(get?.responses['404'])).toContain('request_id');
  });

  it('documents the Idempotency-Key and If-Match answers of the writes', () => {
    const put = document.paths['/v1/customers/{customerId}']?.put;
    expect(Object.keys(put?.responses ?? {}).sort()).toEqual(['200', '400', '401', '404', '409', '412', '413', '415', '422']);
    expect(JSON.stringify(put?.responses['422'])).toContain('request_id');
  });
});

describe.skipIf(chromiumMissing)('GET /docs in a browser', () => {
  it('shows the customers operations, from the service alone', async () => {
    await test.app.listen({ host: '127.0.0.1', port: 0 });
    const origin = `http://127.0.0.1:${(test.app.server.address() as AddressInfo).port}`;
    const browser = await openBrowser(origin);
    try {
      await browser.page.goto(`${origin}/docs`);
      await browser.page.locator('.opblock').first().waitFor();
      const operations = await browser.page
        .locator('.opblock-summary')
        .evaluateAll((elements) =>
          elements.map((element) =>
            [
              element.querySelector('.opblock-summary-method')?.textContent,
              element.querySelector('.opblock-summary-path')?.getAttribute('data-path'),
            ].join(' '),
          ),
        );
      expect(operations).toEqual(
        expect.arrayContaining([
          'POST /v1/customers',
          'GET /v1/customers',
          'GET /v1/customers/{customerId}',
          'PUT /v1/customers/{customerId}',
          'DELETE /v1/customers/{customerId}',
        ]),
      );
      expect(await browser.page.locator('.info .title').textContent()).toContain('Customer service');
      expect(browser.outsideRequests).toEqual([]);
      expect(browser.errors).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});
