import type { FastifyPluginAsync, HTTPMethods } from 'fastify';
import type { ApiKey } from '../config.js';
import { ApiError } from '../errors.js';
import auth, { type AuthFailureThrottle } from '../plugins/auth.js';
import rateLimit from '../plugins/rate-limit.js';
import activity from './activity.js';
import asyncActions from './async-actions.js';
import customerEvents from './customer-events.js';
import customersBulk from './customers-bulk.js';
import customers from './customers.js';
import exportRoutes from './exports.js';
import { metadataSchemasClient } from './metadata-schemas.js';
import segments from './segments.js';
import webhooks from './webhooks.js';

export interface V1Options {
  apiKeys: ApiKey[];
  /** Failed authentications, counted across every scope that authenticates. */
  authFailures: AuthFailureThrottle;
  rateLimitPerMinute: number;
  /** The routes behind the keys: /v1's unless given (the management API's paths take the same treatment). */
  routes?: FastifyPluginAsync[];
}

const V1_ROUTES = [
  customers,
  activity,
  customersBulk,
  asyncActions,
  customerEvents,
  webhooks,
  segments,
  metadataSchemasClient,
  exportRoutes,
];

const METHODS: HTTPMethods[] = ['DELETE', 'GET', 'PATCH', 'POST', 'PUT', 'OPTIONS'];

/**
 * Everything under /v1: never cached, authenticated (failures throttled), rate limited, and 405
 * (not 404) for a known path with the wrong method. Its writes take an Idempotency-Key
 * (src/plugins/idempotency.ts).
 */
const v1: FastifyPluginAsync<V1Options> = async (
  app,
  { apiKeys, authFailures, rateLimitPerMinute, routes: routePlugins = V1_ROUTES },
) => {
  // Answers carry personal data: no cache between client and service may keep them.
  app.addHook('onRequest', (_request, reply, done) => {
    reply.header('cache-control', 'no-store');
    done();
  });
  await app.register(auth, { apiKeys, failures: authFailures });
  await app.register(rateLimit, { perMinute: rateLimitPerMinute });

  const methodsByUrl = new Map<string, Set<string>>();
  app.addHook('onRoute', ({ url, method }) => {
    const path = url.slice(app.prefix.length);
    const methods = methodsByUrl.get(path) ?? new Set();
    for (const one of [method].flat()) methods.add(one);
    methodsByUrl.set(path, methods);
  });

  for (const routes of routePlugins) await app.register(routes);

  // The routes as registered so far (the 405 routes below are added to methodsByUrl too).
  const routes = [...methodsByUrl].map(([url, methods]) => ({
    url,
    methods: new Set(methods),
    matches: new RegExp(`^${url.replace(/:[^/]+/g, '[^/]+')}$`),
  }));
  for (const { url } of routes) {
    // Every method some route answers on this path: GET /customers/importCSV, say, is the
    // customer whose source_id is importCSV, answered by GET /customers/:customerId.
    const answered = new Set(routes.filter((route) => route.matches.test(url)).flatMap((route) => [...route.methods]));
    const allow = [...answered].join(', ');
    const missing = METHODS.filter((method) => !answered.has(method));
    if (missing.length === 0) continue;
    app.route({
      url,
      method: missing,
      schema: { hide: true },
      // A 405 runs nothing: there is no answer to keep for a key.
      config: { idempotency: false },
      handler: async (_request, reply) => {
        reply.header('allow', allow);
        throw new ApiError(405, { details: `Allowed methods: ${allow}` });
      },
    });
  }
};

export default v1;
