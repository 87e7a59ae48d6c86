import { describe, expect, it } from 'vitest';
import { databaseKind, useTestApp } from './support/app.js';
import { errorBody } from './support/customers.js';

// No job worker: nothing but the test's requests and the connections it holds uses the pool.
const test = useTestApp({ WORKER_ENABLED: 'false' });

/** The value of one sample line, e.g. `http_requests_total{method="GET",...}`. */
function sample(text: string, name: string): number | undefined {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

describe('GET /metrics', () => {
  it('counts requests and their latency by route pattern, method and status', async () => {
    await test.api.post('/v1/customers', { name: 'Counted' }).expect(200);
    await test.api.get('/v1/customers/cust_missing1').expect(404);
    await test.api.get('/v1/customers/cust_missing2').expect(404);
    await test.raw().get('/no/such/path/123').expect(404);

    const response = await test.raw().get('/metrics').expect(200);
    expect(response.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    const text = response.text;
    expect(sample(text, 'http_requests_total{method="POST",route="/v1/customers",status_code="200"}')).toBe(1);
    expect(sample(text, 'http_requests_total{method="GET",route="/v1/customers/:customerId",status_code="404"}')).toBe(2);
    expect(sample(text, 'http_requests_total{method="GET",route="unmatched",status_code="404"}')).toBe(1);
    const histogram = 'http_request_duration_seconds';
    const labels = 'method="GET",route="/v1/customers/:customerId",status_code="404"';
    expect(sample(text, `${histogram}_count{${labels}}`)).toBe(2);
    expect(sample(text, `${histogram}_bucket{le="10",${labels}}`)).toBe(2);
    expect(sample(text, `${histogram}_bucket{le="+Inf",${labels}}`)).toBe(2);
    expect(sample(text, `${histogram}_sum{${labels}}`)).toBeGreaterThan(0);
    expect(text).not.toContain('/no/such/path');
  });

  it('reports the database pool: connections held, idle, and queries waiting for one', async () => {
    const pool = test.app.db;
    // The embedded database is one session: its pool has a single connection.
    const max = databaseKind() === 'embedded' ? 1 : 10;
    const poolSamples = async () => {
      const text = (await test.raw().get('/metrics').expect(200)).text;
      return {
        connections: sample(text, 'db_pool_connections'),
        idle: sample(text, 'db_pool_idle_connections'),
        waiting: sample(text, 'db_pool_waiting_requests'),
        max: sample(text, 'db_pool_max_connections'),
      };
    };
    // The test holds every connection, and one more query waits for one.
    const held = await Promise.all(Array.from({ length: max }, () => pool.connect()));
    const waiting = pool.connect();
    try {
      expect(await poolSamples()).toEqual({ connections: max, idle: 0, waiting: 1, max });
    } finally {
      for (const client of held) client.release();
      (await waiting).release();
    }
    // Released: all idle (the pool may already have closed some of them, idle too long).
    const released = await poolSamples();
    expect(released).toEqual({ connections: released.idle, idle: released.idle, waiting: 0, max });
  });

  it('reports the process', async () => {
    const text = (await test.raw().get('/metrics').expect(200)).text;
    expect(sample(text, 'process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(sample(text, 'process_cpu_seconds_total')).toBeGreaterThan(0);
    expect(text).toContain('# TYPE nodejs_eventloop_lag_seconds gauge');
  });
});

describe('GET /metrics with METRICS_TOKEN', () => {
  const token = 'metrics-token-0123456789abcdef0123456789';
  const guarded = useTestApp({ METRICS_TOKEN: token });

  it('answers 401 in the Error shape without the token, or with another', async () => {
    for (const authorization of [undefined, `Bearer ${token}x`, token, `Basic ${token}`]) {
      const request = guarded.raw().get('/metrics');
      const response = await (authorization === undefined ? request : request.set('Authorization', authorization)).expect(401);
      expect(response.headers['www-authenticate']).toBe('Bearer');
      expect(response.body).toEqual(
        errorBody(401, 'unauthorized', 'Unauthorized', {
          details: 'GET /metrics requires Authorization: Bearer <METRICS_TOKEN>',
        }),
      );
    }
  });

  it('answers 200 with the metrics to a request bearing it', async () => {
    const response = await guarded.raw().get('/metrics').set('Authorization', `Bearer ${token}`).expect(200);
    expect(response.text).toContain('# TYPE http_requests_total counter');
  });
});
