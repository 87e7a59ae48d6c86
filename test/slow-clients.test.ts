import { request as httpRequest } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { App } from '../src/app.js';
import { APP_ID, APP_SECRET, useTestApp } from './support/app.js';
import { ANY_REQUEST_ID, errorBody } from './support/customers.js';
import { until } from './support/wait.js';

/** A client that sends the start of a request and then nothing: `answer` is all it got once the server closed. */
interface SlowClient {
  socket: Socket;
  /** Whether the server closed the connection. */
  closed: () => boolean;
  answer: Promise<string>;
}

function slowClient(port: number, start: string): SlowClient {
  let received = '';
  let closed = false;
  const socket = connect(port, '127.0.0.1', () => socket.write(start));
  const answer = new Promise<string>((resolve, reject) => {
    socket.on('data', (chunk) => (received += chunk.toString()));
    socket.on('close', () => {
      closed = true;
      resolve(received);
    });
    socket.on('error', (error: NodeJS.ErrnoException) => (error.code === 'ECONNRESET' ? undefined : reject(error)));
  });
  return { socket, closed: () => closed, answer };
}

const credentials = `X-App-Id: ${APP_ID}\r\nX-App-Token: ${APP_SECRET}\r\n`;
/** Headers, then 4 of the 15 bytes of body they announce. */
const slowBody = (path: string, headers = '') =>
  `POST ${path} HTTP/1.1\r\nHost: x\r\n${headers}Content-Type: application/json\r\nContent-Length: 15\r\n\r\n{"na`;
/** Half a header section, never finished. */
const slowHeaders = `GET /v1/customers HTTP/1.1\r\nHost: x\r\n${credentials}X-Slow: `;

/** One request on a connection of its own, and how long its answer took. */
function timedRequest(port: number, method: string, path: string, body?: string) {
  const started = performance.now();
  return new Promise<{ status: number; ms: number }>((resolve, reject) => {
    const outgoing = httpRequest(
      {
        host: '127.0.0.1',
        port,
        method,
        path,
        agent: false,
        headers: { 'X-App-Id': APP_ID, 'X-App-Token': APP_SECRET, 'Content-Type': 'application/json' },
      },
      (response) => {
        response.resume();
        response.on('end', () => resolve({ status: response.statusCode!, ms: performance.now() - started }));
      },
    );
    outgoing.on('error', reject);
    outgoing.end(body);
  });
}

/** Status line, headers (lower-cased names) and JSON body of a raw HTTP answer. */
function parseAnswer(answer: string) {
  const [head = '', body = ''] = answer.split('\r\n\r\n');
  const [statusLine, ...lines] = head.split('\r\n');
  const headers = Object.fromEntries(
    lines.map((line) => [line.slice(0, line.indexOf(':')).toLowerCase(), line.slice(line.indexOf(':') + 1).trim()]),
  );
  return { status: Number(statusLine?.split(' ')[1]), headers, body: body === '' ? undefined : (JSON.parse(body) as unknown) };
}

async function listen(app: App): Promise<number> {
  await app.listen({ host: '127.0.0.1', port: 0 });
  return (app.server.address() as AddressInfo).port;
}

const openConnections = (app: App) =>
  new Promise<number>((resolve, reject) => app.server.getConnections((error, count) => (error ? reject(error) : resolve(count))));

describe('200 slow clients (at most 210 connections)', () => {
  // A request timeout no loaded machine reaches during the test: the slow clients are all held throughout.
  const test = useTestApp({ MAX_CONNECTIONS: '210', REQUEST_TIMEOUT_MS: '600000' });
  let port: number;
  const clients: SlowClient[] = [];
  beforeAll(async () => {
    port = await listen(test.app);
  });
  afterAll(() => clients.forEach(({ socket }) => socket.destroy()));

  it('do not stop normal requests from being answered within 1 s', async () => {
    for (let index = 0; index < 100; index += 1) clients.push(slowClient(port, slowBody('/v1/customers', credentials)));
    for (let index = 0; index < 100; index += 1) clients.push(slowClient(port, slowHeaders));
    await until(async () => (await openConnections(test.app)) === 200, 'the server to hold the 200 slow connections');

    const answers = [];
    for (let round = 0; round < 10; round += 1) {
      answers.push(await timedRequest(port, 'GET', '/health/live'));
      answers.push(await timedRequest(port, 'GET', '/v1/customers?limit=1'));
      answers.push(await timedRequest(port, 'POST', '/v1/customers', JSON.stringify({ name: `Normal ${round}` })));
    }
    expect(answers.map(({ status }) => status)).toEqual(Array.from({ length: 10 }, () => [200, 200, 200]).flat());
    expect(answers.filter(({ ms }) => ms >= 1000)).toEqual([]);
    // The slow clients were all still held while the normal requests were answered.
    expect(clients.filter((client) => client.closed())).toEqual([]);
  });

  it('closes the connections past MAX_CONNECTIONS as they arrive, without an answer', async () => {
    await until(async () => (await openConnections(test.app)) === 200, 'the normal requests to close their connections');
    const extra = Array.from({ length: 15 }, () => slowClient(port, ''));
    clients.push(...extra);
    await until(
      async () => extra.filter((client) => client.closed()).length === 5 && (await openConnections(test.app)) === 210,
      '10 more connections to be held and 5 to be closed',
    );
    const refused = await Promise.all(extra.filter((client) => client.closed()).map((client) => client.answer));
    expect(refused).toEqual(['', '', '', '', '']);
  });
});

describe('a slow client past REQUEST_TIMEOUT_MS', () => {
  const test = useTestApp({ REQUEST_TIMEOUT_MS: '500' });
  let port: number;
  beforeAll(async () => {
    port = await listen(test.app);
  });

  it.each([
    ['a body that stops coming', slowBody('/v1/customers', credentials)],
    ['headers that stop coming', slowHeaders],
    ['nothing at all', ''],
  ])('sending %s is answered 408 in the Error shape, and the connection closed', async (_case, start) => {
    const answer = parseAnswer(await slowClient(port, start).answer);
    expect(answer.status).toBe(408);
    expect(answer.headers.connection).toBe('close');
    expect(answer.body).toEqual(errorBody(408, 'request_timeout', 'Request timeout', { request_id: ANY_REQUEST_ID }));
  });
});

describe('a request for a route that does not exist', () => {
  const test = useTestApp();
  let port: number;
  beforeAll(async () => {
    port = await listen(test.app);
  });

  it('is answered 404 before its body arrives, and the connection closed', async () => {
    const answer = parseAnswer(await slowClient(port, slowBody('/nope')).answer);
    expect(answer.status).toBe(404);
    expect(answer.headers.connection).toBe('close');
    expect(answer.body).toEqual(errorBody(404, 'not_found', 'Resource not found', { details: 'No route for POST /nope' }));
  });

  it('is answered 404 with a body that is not JSON, rather than 400', async () => {
    const response = await test.raw().post('/v1/vouchers').set('Content-Type', 'application/json').send('{not json');
    expect(response.status).toBe(404);
  });
});
