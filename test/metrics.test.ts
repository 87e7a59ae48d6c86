import { describe, expect, it } from 'vitest';
import { databaseKind, useTestApp } from './support/app.js';

const test = useTestApp();

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

  it('reports the database pool and the process', async () => {
    const text = (await test.raw().get('/metrics').expect(200)).text;
    expect(sample(text, 'db_pool_connections')).toBeGreaterThanOrEqual(1);
    expect(sample(text, 'db_pool_idle_connections')).toBeGreaterThanOrEqual(0);
    expect(sample(text, 'db_pool_waiting_requests')).toBe(0);
    // The embedded database is one session: its pool has a single connection.
    expect(sample(text, 'db_pool_max_connections')).toBe(databaseKind() === 'embedded' ? 1 : 10);
    expect(sample(text, 'process_resident_memory_bytes')).toBeGreaterThan(0);
    expect(sample(text, 'process_cpu_seconds_total')).toBeGreaterThan(0);
    expect(text).toContain('# TYPE nodejs_eventloop_lag_seconds gauge');
  });
});
