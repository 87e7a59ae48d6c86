import { createHash, timingSafeEqual } from 'node:crypto';
import fp from 'fastify-plugin';
import { ApiError } from '../errors.js';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

declare module 'fastify' {
  interface FastifyInstance {
    /** This app's Prometheus metrics (each app has its own registry: tests build several). */
    metrics: Registry;
  }
}

/** Latency buckets in seconds, from a cached read to a slow bulk write. */
const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** The route label of requests that matched no route, so that scanners cannot grow the label set. */
const UNMATCHED = 'unmatched';

export interface MetricsOptions {
  /** Set: `GET /metrics` requires `Authorization: Bearer <token>`. */
  token?: string;
}

const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

/**
 * `GET /metrics` in Prometheus text format: requests and their latency by route pattern and
 * status, the database pool, and the process (CPU, memory, event loop, GC). Open by default, as
 * a Prometheus scrape expects; with a token, only to requests bearing it (compared in constant time).
 */
export default fp<MetricsOptions>(
  async (app, { token }) => {
    const register = new Registry();
    collectDefaultMetrics({ register });
    const labelNames = ['method', 'route', 'status_code'] as const;
    const requests = new Counter({
      name: 'http_requests_total',
      help: 'HTTP requests answered.',
      labelNames,
      registers: [register],
    });
    const latency = new Histogram({
      name: 'http_request_duration_seconds',
      help: 'Time from receiving a request to sending its response.',
      labelNames,
      buckets: LATENCY_BUCKETS,
      registers: [register],
    });
    const pool = app.db;
    const poolGauge = (name: string, help: string, read: () => number) =>
      new Gauge({
        name,
        help,
        registers: [register],
        collect() {
          this.set(read());
        },
      });
    poolGauge('db_pool_connections', 'Connections the database pool holds, busy or idle.', () => pool.totalCount);
    poolGauge('db_pool_idle_connections', 'Idle connections in the database pool.', () => pool.idleCount);
    poolGauge('db_pool_waiting_requests', 'Queries waiting for a free connection.', () => pool.waitingCount);
    poolGauge('db_pool_max_connections', 'Most connections the pool opens.', () => pool.options.max ?? 10);

    app.addHook('onResponse', (request, reply, done) => {
      const labels = {
        method: request.method,
        route: request.routeOptions.url ?? UNMATCHED,
        status_code: String(reply.statusCode),
      };
      requests.inc(labels);
      latency.observe(labels, reply.elapsedTime / 1000);
      done();
    });

    app.decorate('metrics', register);
    const expected = token === undefined ? undefined : digest(`Bearer ${token}`);
    app.get(
      '/metrics',
      {
        onRequest: (request, reply, done) => {
          if (expected === undefined || timingSafeEqual(digest(request.headers.authorization ?? ''), expected)) return done();
          reply.header('www-authenticate', 'Bearer');
          done(new ApiError(401, { details: 'GET /metrics requires Authorization: Bearer <METRICS_TOKEN>' }));
        },
        schema: {
          tags: ['Operations'],
          summary: 'Prometheus metrics',
          description:
            'Request counts and latency histograms by route and status, database pool gauges and process metrics, in Prometheus text format. Without authentication, unless METRICS_TOKEN is set: then `Authorization: Bearer <METRICS_TOKEN>`.',
          produces: ['text/plain'],
        },
      },
      async (_request, reply) => reply.type(register.contentType).send(await register.metrics()),
    );
  },
  { name: 'metrics', dependencies: ['database'] },
);
