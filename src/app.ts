import { readFileSync } from 'node:fs';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { LogController, type FastifyServerOptions } from 'fastify';
import type { Config } from './config.js';
import { newRequestId } from './ids.js';
import { loggerOptions } from './logger.js';
import accessLog from './plugins/access-log.js';
import { authFailureThrottle } from './plugins/auth.js';
import customers from './plugins/customers.js';
import database from './plugins/database.js';
import docs from './plugins/docs.js';
import errors, { clientErrorHandler, replyWithError } from './plugins/errors.js';
import health from './plugins/health.js';
import idempotency from './plugins/idempotency.js';
import input from './plugins/input.js';
import jobs from './plugins/jobs.js';
import metrics from './plugins/metrics.js';
import securityHeaders from './plugins/security-headers.js';
import asyncActionReports from './routes/async-action-reports.js';
import webhooks from './plugins/webhooks.js';
import cockpit from './routes/cockpit.js';
import { metadataSchemasManagement } from './routes/metadata-schemas.js';
import v1 from './routes/v1.js';
import { bodyAjv, parameterAjv } from './validation.js';

export interface AppOptions {
  config: Config;
  /** Overrides the logger built from the config (tests pass `false`, or a capturing stream). */
  logger?: FastifyServerOptions['logger'];
}

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string };

/** Report links are signed with the secrets of the service's other links, and point where they do. */
const reportLinks = (config: Config) => ({ publicUrl: config.publicUrl, secrets: linkSecrets(config) });

/** The secrets of the links the service hands out: COCKPIT_SECRET signs, it and COCKPIT_PREVIOUS_SECRETS verify. */
const linkSecrets = (config: Config) => ({ current: config.cockpitSecret, previous: config.cockpitPreviousSecrets });

/** The customers plugin's options: where cockpit links point, how they are signed, and how long they work. */
const customerOptions = (config: Config) => ({
  cockpitLinks: { publicUrl: config.publicUrl, secrets: linkSecrets(config), ttlHours: config.cockpitLinkTtlHours },
  projectId: config.projectId,
});

/** The default body limit: single-customer routes; a route that takes more sets its own `bodyLimit`. */
const BODY_LIMIT = 1024 * 1024;

/** How often Node looks for requests past their time: the 408 comes at most this long after the deadline. */
const REQUEST_TIMEOUT_CHECK_MS = 1000;

/** The whole service, registered and ready to listen. Tests build it the same way. */
export async function buildApp({ config, logger }: AppOptions) {
  const { requestTimeoutMs, connectionTimeoutMs, maxConnections } = config.http;
  const app = Fastify({
    logger: logger ?? loggerOptions(config),
    genReqId: newRequestId,
    logController: new LogController({ requestIdLogLabel: 'request_id', disableRequestLogging: true }),
    bodyLimit: BODY_LIMIT,
    trustProxy: config.trustProxy,
    // A client slow to send its request (a byte now and then) is answered 408 and let go, and
    // one that stops reading its answer is cut off: neither holds a connection for long.
    requestTimeout: requestTimeoutMs,
    connectionTimeout: connectionTimeoutMs,
    // Node's server checks its own options when it is created: they are given the same values.
    http: {
      requestTimeout: requestTimeoutMs,
      // Headers are part of the request: the one deadline covers them (Node's own is 60 s).
      headersTimeout: requestTimeoutMs,
      connectionsCheckingInterval: Math.min(requestTimeoutMs, REQUEST_TIMEOUT_CHECK_MS),
    },
    // A source_id of 255 characters, each percent-encoded as up to 12 characters, still routes.
    routerOptions: { maxParamLength: 255 * 12 },
    // Malformed percent-encoding or an over-long path segment, found while routing.
    frameworkErrors: replyWithError,
    clientErrorHandler,
    // While shutting down, a request arriving on an open connection is still served (with
    // `Connection: close`): the database pool closes only after every such request is done.
    return503OnClosing: false,
  }).withTypeProvider<TypeBoxTypeProvider>();
  app.server.maxConnections = maxConnections;

  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? bodyAjv : parameterAjv).compile(schema));
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id);
    done();
  });

  await app.register(accessLog);
  await app.register(errors);
  await app.register(input);
  await app.register(securityHeaders);
  await app.register(docs, { version });
  await app.register(database, { database: config.database, pool: config.databasePool });
  await app.register(metrics, { token: config.metricsToken });
  await app.register(health, { readyCacheMs: config.healthReadyCacheMs });
  await app.register(customers, customerOptions(config));
  await app.register(jobs, { jobs: config.jobs, links: reportLinks(config) });
  await app.register(webhooks, { webhooks: config.webhooks, worker: config.jobs.worker });
  await app.register(cockpit);
  await app.register(asyncActionReports);
  await app.register(idempotency, { under: '/v1/', ttlSeconds: config.idempotencyKeyTtlSeconds });
  // One count of failed authentications for both APIs: each does not get a budget of its own.
  const authFailures = authFailureThrottle(config.authFailureLimits);
  const keys = { apiKeys: config.apiKeys, authFailures, rateLimitPerMinute: config.rateLimitPerMinute };
  await app.register(v1, { prefix: '/v1', ...keys });
  await app.register(v1, { prefix: '/management/v1', ...keys, routes: [metadataSchemasManagement] });
  return app;
}

export type App = Awaited<ReturnType<typeof buildApp>>;

/**
 * Job workers and webhook deliveries alone, without HTTP (`npm run worker`): the same database,
 * job and webhook plugins as the service, to scale that work out to more processes.
 */
export async function buildWorker({ config, logger }: AppOptions) {
  const app = Fastify({ logger: logger ?? loggerOptions(config) });
  await app.register(database, { database: config.database, pool: config.databasePool });
  await app.register(jobs, { jobs: { ...config.jobs, worker: true }, links: reportLinks(config) });
  // Webhook bodies carry the customer as the API shows it, cockpit link included.
  await app.register(customers, customerOptions(config));
  await app.register(webhooks, { webhooks: config.webhooks, worker: true });
  return app;
}
