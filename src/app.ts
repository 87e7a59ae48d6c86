import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import Fastify, { LogController, type FastifyServerOptions } from 'fastify';
import type { Config } from './config.js';
import { newRequestId } from './ids.js';
import customers from './plugins/customers.js';
import database from './plugins/database.js';
import errors, { clientErrorHandler, replyWithError } from './plugins/errors.js';
import input from './plugins/input.js';
import jobs from './plugins/jobs.js';
import v1 from './routes/v1.js';
import { bodyAjv, parameterAjv } from './validation.js';

export interface AppOptions {
  config: Config;
  /** Overrides the logger built from the config (tests pass `false`). */
  logger?: FastifyServerOptions['logger'];
}

/** The whole service, registered and ready to listen. Tests build it the same way. */
export async function buildApp({ config, logger }: AppOptions) {
  const app = Fastify({
    logger: logger ?? { level: config.logLevel },
    genReqId: newRequestId,
    logController: new LogController({ requestIdLogLabel: 'request_id' }),
    bodyLimit: 1024 * 1024,
    // A source_id of 255 characters, each percent-encoded as up to 12 characters, still routes.
    routerOptions: { maxParamLength: 255 * 12 },
    // Malformed percent-encoding or an over-long path segment, found while routing.
    frameworkErrors: replyWithError,
    clientErrorHandler,
  }).withTypeProvider<TypeBoxTypeProvider>();

  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? bodyAjv : parameterAjv).compile(schema));
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });

  await app.register(errors);
  await app.register(input);
  await app.register(database, { connectionString: config.databaseUrl, pool: config.databasePool });
  await app.register(customers, { publicUrl: config.publicUrl });
  await app.register(jobs, { jobs: config.jobs });
  await app.register(v1, { prefix: '/v1', apiKeys: config.apiKeys });
  return app;
}

export type App = Awaited<ReturnType<typeof buildApp>>;

/**
 * Job workers alone, without HTTP (`npm run worker`): the same database and job plugins as the
 * service, to scale the work on async actions out to more processes.
 */
export async function buildWorker({ config, logger }: AppOptions) {
  const app = Fastify({ logger: logger ?? { level: config.logLevel } });
  await app.register(database, { connectionString: config.databaseUrl, pool: config.databasePool });
  await app.register(jobs, { jobs: { ...config.jobs, worker: true } });
  return app;
}
