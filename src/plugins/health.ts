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

export interface HealthOptions {
  /** How long a readiness answer is reused; 0 checks on every call. */
  readyCacheMs: number;
}

/**
 * `GET /health/live` and `GET /health/ready`, without authentication, for orchestrators. The
 * readiness check (two queries) runs at most once per `readyCacheMs`, whoever asks and however
 * often: calls meanwhile, concurrent ones included, share its answer, ready or not.
 */
const health: FastifyPluginAsyncTypebox<HealthOptions> = async (app, { readyCacheMs }) => {
  const check = async (): Promise<ApiError | undefined> => {
    const pending = await pendingMigrations(app.db).catch((error: unknown) => {
      app.log.warn({ err: error }, 'not ready: the database is unreachable');
      return unavailable('The database is unreachable');
    });
    if (pending instanceof ApiError) return pending;
    return pending.length > 0 ? unavailable(`Database migrations are pending: ${pending.join(', ')}`) : undefined;
  };
  let last: { at: number; answer: Promise<ApiError | undefined> } | undefined;
  const readiness = () => {
    const now = Date.now();
    if (last === undefined || now - last.at >= readyCacheMs) last = { at: now, answer: check() };
    return last.answer;
  };

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
          'Answers 200 when the database answers and every committed migration is applied, else 503 with the reason in `details`. The answer is reused for `HEALTH_READY_CACHE_MS` (1 s by default). No authentication.',
        response: { 200: Ready, 503: ErrorBody },
      },
    },
    async () => {
      const notReady = await readiness();
      if (notReady) throw notReady;
      return { status: 'ready' as const, database: 'ok' as const };
    },
  );
};

export default fp(health, { name: 'health', dependencies: ['database', 'errors'] });
