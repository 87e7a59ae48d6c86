import { describe, expect, it } from 'vitest';
import { APP_ID, APP_SECRET, useTestApp } from './support/app.js';
import { ANY_REQUEST_ID, errorBody, invalidPayload } from './support/customers.js';
import { expectReferenceSchema } from './support/reference.js';

const { api, raw } = useTestApp();
const unauthorized = errorBody(401, 'unauthorized', 'Unauthorized');

describe('authentication on /v1', () => {
  it.each([
    ['no credentials', {}],
    ['an app id alone', { 'X-App-Id': APP_ID }],
    ['a token alone', { 'X-App-Token': APP_SECRET }],
    ['a wrong token', { 'X-App-Id': APP_ID, 'X-App-Token': `${APP_SECRET}x` }],
    ['a token of another length', { 'X-App-Id': APP_ID, 'X-App-Token': 'short' }],
    ['an empty token', { 'X-App-Id': APP_ID, 'X-App-Token': '' }],
    ['an unknown app id with the right token', { 'X-App-Id': 'someone-else', 'X-App-Token': APP_SECRET }],
  ])('answers 401 to %s', async (_case, headers) => {
    const response = await raw().get('/v1/customers').set(headers).expect(401);
    expect(response.body).toEqual(unauthorized);
    expectReferenceSchema('Error', response.body);
  });

  it('checks credentials before the body', async () => {
    const response = await raw().post('/v1/customers').set('Content-Type', 'application/json').send('{not json').expect(401);
    expect(response.body).toEqual(unauthorized);
  });

  it('accepts the SDK headers X-Voucherify-Channel and X-Voucherify-API-Version', async () => {
    await api.get('/v1/customers?limit=1').set('X-Voucherify-API-Version', 'v2018-08-01').expect(200);
  });
});

describe('request ids', () => {
  it('sends a fresh v- id in X-Request-Id with every response, and in every error body', async () => {
    const ok = await api.get('/v1/customers?limit=1').expect(200);
    const failed = await api.get('/v1/customers?limit=0').expect(400);
    expect(ok.headers['x-request-id']).toMatch(/^v-[0-9a-f]{18}$/);
    expect(failed.body.request_id).toBe(failed.headers['x-request-id']);
    expect(failed.headers['x-request-id']).not.toBe(ok.headers['x-request-id']);
  });

  it('ignores an X-Request-Id sent by the client', async () => {
    const response = await api.get('/v1/customers?limit=1').set('X-Request-Id', 'v-000000000000000000').expect(200);
    expect(response.headers['x-request-id']).not.toBe('v-000000000000000000');
  });
});

describe('routing errors', () => {
  it('answers 404 in the Error shape for an unknown path', async () => {
    const response = await api.get('/v1/vouchers').expect(404);
    expect(response.body).toEqual(
      errorBody(404, 'not_found', 'Resource not found', { details: 'No route for GET /v1/vouchers' }),
    );
    expect(response.headers['x-request-id']).toBe(response.body.request_id);
  });

  it.each([
    ['PATCH', '/v1/customers', 'POST, GET, HEAD'],
    ['DELETE', '/v1/customers', 'POST, GET, HEAD'],
    ['POST', '/v1/customers/cust_1', 'GET, HEAD, PUT, DELETE'],
    ['PATCH', '/v1/customers/cust_1', 'GET, HEAD, PUT, DELETE'],
  ])('answers 405 to %s %s, listing the allowed methods', async (method, path, allow) => {
    const agent = raw();
    const send = agent[method.toLowerCase() as 'patch'].bind(agent);
    const response = await send(path).set({ 'X-App-Id': APP_ID, 'X-App-Token': APP_SECRET }).expect(405);
    expect(response.body).toEqual(
      errorBody(405, 'method_not_allowed', 'Method not allowed', { details: `Allowed methods: ${allow}` }),
    );
    expect(response.headers.allow).toBe(allow);
  });
});

describe('paths that are also source_ids', () => {
  it('reach the customer whose source_id is importCSV with GET, PUT and DELETE, and answer 405 to PATCH', async () => {
    const created = await api.post('/v1/customers', { source_id: 'importCSV', name: 'Literal' }).expect(200);
    await api.get('/v1/customers/importCSV').expect(200, created.body);
    expect((await api.put('/v1/customers/importCSV', { phone: '+1' }).expect(200)).body.phone).toBe('+1');
    const response = await raw()
      .patch('/v1/customers/importCSV')
      .set({ 'X-App-Id': APP_ID, 'X-App-Token': APP_SECRET })
      .expect(405);
    expect(response.headers.allow).toBe('GET, HEAD, PUT, DELETE, POST');
    await api.delete('/v1/customers/importCSV').expect(204);
  });
});

describe('request bodies', () => {
  it('answers 413 in the Error shape to a body over 1 MiB', async () => {
    const response = await api
      .post('/v1/customers')
      .send(JSON.stringify({ name: 'x'.repeat(1024 * 1024) }))
      .expect(413);
    expect(response.body).toEqual(
      errorBody(413, 'payload_too_large', 'Payload too large', { details: 'Request body is too large' }),
    );
    expectReferenceSchema('Error', response.body);
  });

  it.each(['text/plain', 'application/x-www-form-urlencoded', 'application/xml'])('answers 415 to a %s body', async (type) => {
    const response = await api.post('/v1/customers').set('Content-Type', type).send('name=Bob').expect(415);
    expect(response.body).toEqual(
      errorBody(415, 'unsupported_media_type', 'Unsupported media type', { details: 'Unsupported Media Type' }),
    );
  });

  it('reads JSON sent with a charset', async () => {
    await api.post('/v1/customers').set('Content-Type', 'application/json; charset=utf-8').send('{"name":"Zoë"}').expect(200);
  });

  it('never coerces JSON types', async () => {
    const response = await api.post('/v1/customers', { name: 42 }).expect(400);
    expect(response.body).toEqual(invalidPayload('Property .name must be string'));
  });

  it('answers a request id in the body of every error, including 415', async () => {
    const response = await api.put('/v1/customers/x').set('Content-Type', 'text/csv').send('a,b').expect(415);
    expect(response.body.request_id).toEqual(response.headers['x-request-id']);
    expect(response.body).toMatchObject({ request_id: ANY_REQUEST_ID });
  });
});
