import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import fp from 'fastify-plugin';
import { ApiError } from '../errors.js';
import { pendingMigrations } from '../migrate.js';
import { ErrorBody } from '../schemas/common.js';

const Live = Type.Object({ status: Type.Literal('ok') }, { example: { status: 'ok' } });
const Ready = Type.Object(
  { status: Type.Literal('ready'), database: Type.Literal('ok') },
  { example: { status: 'ready', database: 'ok' } },
);
const tags = ['Operations'];

/** Seconds an orchestrator should wait before asking a service that is not ready again. */
const RETRY_AFTER_SECONDS = 5;

const unavailable = (details: string) => new ApiError(503, { details, retryAfter: RETRY_AFTER_SECONDS });

/** `GET /health/live` and `GET /health/ready`, without authentication, for orchestrators. */
const health: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/health/live',
    {
      schema: {
        tags,
        summary: 'Liveness',
        description: 'Answers 200 while the process serves HTTP. No authentication.',
        response: { 200: Live },
      },
    },
    async () => ({ status: 'ok' as const }),
  );

  app.get(
    '/health/ready',
    {
      schema: {
        tags,
        summary: 'Readiness',
        description:
          'Answers 200 when the database answers and every committed migration is applied, else 503 with the reason in `details`. No authentication.',
        response: { 200: Ready, 503: ErrorBody },
      },
    },
    async (request) => {
      const pending = await pendingMigrations(app.db).catch((error: unknown) => {
        request.log.warn({ err: error }, 'not ready: the database is unreachable');
        throw unavailable('The database is unreachable');
      });
      if (pending.length > 0) throw unavailable(`Database migrations are pending: ${pending.join(', ')}`);
      return { status: 'ready' as const, database: 'ok' as const };
    },
  );
};

export default fp(health, { name: 'health', dependencies: ['database', 'errors'] });
