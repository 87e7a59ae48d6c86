import { createHash, type Hash } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteHandlerMethod } from 'fastify';
import fp from 'fastify-plugin';
import type pg from 'pg';
import { ApiError } from '../errors.js';
import {
  createIdempotencyKeyStore,
  fingerprint,
  IN_USE_RETRY_AFTER_SECONDS,
  isStoredStatus,
  isValidKey,
  jsonDigest,
  KEY_FORMAT_DETAILS,
  type StoredAnswer,
} from '../idempotency-keys.js';
import { errorResponses } from '../schemas/common.js';
import { inRequestTransaction } from '../transaction.js';
import { errorBody } from './errors.js';

/** A request's body as its fingerprint counts it: JSON, or the file of a multipart upload. */
export type IdempotentBody = 'json' | 'file';

declare module 'fastify' {
  interface FastifyContextConfig {
    /** How the route's body counts in a key's fingerprint ('json' by default); false: keys do not apply (405 answers). */
    idempotency?: IdempotentBody | false;
  }
  interface FastifyRequest {
    /** Set while a request sent with an Idempotency-Key runs in its transaction. */
    idempotency?: KeyedRequest;
  }
  interface FastifyInstance {
    idempotencyKeys: { removeExpired(): Promise<number> };
  }
}

export interface KeyedRequest {
  appId: string;
  key: string;
  client: pg.PoolClient;
  /** Gives the connection back to the pool (a broken one, with the error that broke it). */
  release(error?: Error): void;
  /** JSON routes: known before the request runs. */
  fingerprint?: string;
  /** File routes: fed the uploaded file while it is stored (the route hands it to the upload). */
  fileDigest?: Hash;
  /** Marks the transaction ended (later statements go to the pool) and, after a commit, runs what waited for it. */
  ended?: (committed: boolean) => void;
  /** Settles once the route's handler has. */
  handled?: Promise<unknown>;
  finished: boolean;
}

export interface IdempotencyOptions {
  /** The routes keys apply to: POST, PUT and DELETE routes under this path. */
  under: string;
  /** How long an answer is kept for its key. */
  ttlSeconds: number;
  /** How often expired answers are deleted, in batches. */
  cleanupIntervalMs?: number;
}

const KEYED_METHODS = new Set(['POST', 'PUT', 'DELETE']);
/** Headers of an answer that a replay repeats. */
const REPLAYED_HEADERS = ['content-type', 'etag'];
const CLEANUP_BATCH = 1000;

const header = (request: FastifyRequest, name: string) => request.headers[name] as string | undefined;

/** An uploaded file's digest, read whole as a stream (a replay's file is compared, not stored). */
async function fileDigestOf(request: FastifyRequest): Promise<string | undefined> {
  if (!request.isMultipart()) return undefined;
  try {
    const part = await request.file();
    if (part?.fieldname !== 'file') return undefined;
    const digest = createHash('sha256');
    for await (const chunk of part.file) digest.update(chunk as Buffer);
    return digest.digest('hex');
  } catch {
    return undefined;
  }
}

/**
 * `Idempotency-Key` on every POST, PUT and DELETE under a path (/v1/). A keyed
 * request runs in one transaction that holds its key (an advisory lock, so every process sees
 * it) and stores its answer before committing: the answer and the writes commit together, or
 * neither does. A repeat gets the stored answer again with `Idempotent-Replayed: true`; the same
 * key for another request answers 422; while the first still runs, 409. Requests without the
 * header run as if this plugin did not exist.
 */
export default fp<IdempotencyOptions>(
  async (app, { under, ttlSeconds, cleanupIntervalMs = 60_000 }) => {
    const keys = createIdempotencyKeyStore({ ttlSeconds });

    function replay(reply: FastifyReply, answer: StoredAnswer) {
      reply.code(answer.status).headers(answer.headers).header('idempotent-replayed', 'true');
      return reply.send(answer.status === 204 ? undefined : answer.body);
    }

    async function replayIfSame(request: FastifyRequest, reply: FastifyReply, answer: StoredAnswer, requestPrint?: string) {
      const print = requestPrint ?? fingerprint(request.method, request.url, (await fileDigestOf(request)) ?? '');
      if (print !== answer.fingerprint) {
        throw new ApiError(422, {
          key: 'idempotency_key_reused',
          message: 'Idempotency key reused',
          details: 'This Idempotency-Key was sent with another request (method, path or body)',
        });
      }
      return replay(reply, answer);
    }

    async function runKeyed(
      this: FastifyInstance,
      handler: RouteHandlerMethod,
      body: IdempotentBody,
      request: FastifyRequest,
      reply: FastifyReply,
      key: string,
    ) {
      if (!isValidKey(key)) throw new ApiError(400, { key: 'invalid_idempotency_key', details: KEY_FORMAT_DETAILS });
      const appId = header(request, 'x-app-id')!;
      const print = body === 'json' ? fingerprint(request.method, request.url, jsonDigest(request.body)) : undefined;
      // A connection lost while the request holds it fails the request, not the process: the
      // database plugin listens for errors on every connection, in use or idle.
      const client = await app.db.connect();
      const release = (error?: Error) => client.release(error);
      let stored: StoredAnswer | undefined;
      try {
        const begun = await keys.begin(client, appId, key);
        stored = begun.stored;
        if (!begun.locked && !stored) {
          throw new ApiError(409, {
            key: 'idempotency_key_in_use',
            message: 'Idempotency key in use',
            details: 'A request with this Idempotency-Key is still running: send it again shortly',
            retryAfter: IN_USE_RETRY_AFTER_SECONDS,
          });
        }
        if (stored) await client.query('ROLLBACK');
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        release();
        throw error;
      }
      if (stored) {
        release();
        return replayIfSame(request, reply, stored, print);
      }
      const keyed: KeyedRequest = { appId, key, client, release, fingerprint: print, finished: false };
      if (body === 'file') keyed.fileDigest = createHash('sha256');
      request.idempotency = keyed;
      const { result, ended } = inRequestTransaction(client, async () => handler.call(this, request, reply));
      keyed.ended = ended;
      keyed.handled = result.catch(() => undefined);
      return result;
    }

    /** Stores the answer and commits, or rolls back; a failure here becomes the answer (503). */
    async function finish(request: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> {
      const keyed = request.idempotency;
      if (!keyed || keyed.finished) return payload;
      keyed.finished = true;
      const status = reply.statusCode;
      // A file's fingerprint is complete only once the upload read it all, which a 2xx answer means.
      const print =
        keyed.fingerprint ??
        (status < 300 ? fingerprint(request.method, request.url, keyed.fileDigest!.digest('hex')) : undefined);
      const store = isStoredStatus(status) && print !== undefined;
      try {
        if (store) {
          const headers = Object.fromEntries(
            REPLAYED_HEADERS.flatMap((name) => {
              const value = reply.getHeader(name);
              return value === undefined ? [] : [[name, String(value)]];
            }),
          );
          const body = status === 204 || payload == null ? '' : String(payload);
          const answer = { fingerprint: print, status, headers, body };
          await keys.storeAndCommit(keyed.client, keyed.appId, keyed.key, answer);
        } else {
          await keyed.client.query('ROLLBACK');
        }
        keyed.ended?.(store);
        keyed.release();
      } catch (error) {
        keyed.ended?.(false);
        keyed.release(error as Error);
        request.log.error({ err: error }, 'the answer to a keyed request could not be committed');
        const unavailable = new ApiError(503, { details: 'The request could not be completed: send it again', retryAfter: 1 });
        reply.code(503).header('retry-after', '1').header('content-type', 'application/json; charset=utf-8').removeHeader('etag');
        return JSON.stringify(errorBody(unavailable, request.id));
      }
      return payload;
    }

    /** Ends the transaction of a request whose answer never went through onSend, once its handler is done with it. */
    async function abandon(keyed: KeyedRequest) {
      await keyed.handled;
      if (keyed.finished) return;
      keyed.finished = true;
      keyed.ended?.(false);
      await keyed.client.query('ROLLBACK').then(
        () => keyed.release(),
        (error: Error) => keyed.release(error),
      );
    }

    app.addHook('onRoute', (route) => {
      const methods = [route.method].flat();
      if (!route.url.startsWith(under) || !methods.some((method) => KEYED_METHODS.has(method))) return;
      if (route.config?.idempotency === false) return;
      const body = route.config?.idempotency ?? 'json';
      const handler = route.handler;
      route.handler = function keyedOrNot(request, reply) {
        const key = header(request, 'idempotency-key');
        if (key === undefined) return handler.call(this, request, reply);
        return runKeyed.call(this, handler, body, request, reply, key);
      };
      if (route.schema) {
        route.schema = { ...route.schema, response: { ...errorResponses(409, 422), ...(route.schema.response as object) } };
      }
    });

    // Callback hooks: a request without a key passes them without a promise.
    app.addHook('onSend', (request, reply, payload, done) => {
      if (!request.idempotency) return done(null, payload);
      finish(request, reply, payload).then((answer) => done(null, answer), done);
    });
    app.addHook('onResponse', (request, _reply, done) => {
      const keyed = request.idempotency;
      if (!keyed || keyed.finished) return done();
      abandon(keyed).then(() => done(), done);
    });

    const removeExpired = async () => {
      let removed = 0;
      for (let batch = CLEANUP_BATCH; batch === CLEANUP_BATCH; removed += batch) {
        batch = await keys.removeExpired(app.db, CLEANUP_BATCH);
      }
      return removed;
    };
    app.decorate('idempotencyKeys', { removeExpired });

    let cleanup: NodeJS.Timeout | undefined;
    app.addHook('onReady', async () => {
      cleanup = setInterval(() => {
        removeExpired().catch((error: unknown) => app.log.warn({ err: error }, 'expired idempotency keys could not be deleted'));
      }, cleanupIntervalMs).unref();
    });
    app.addHook('onClose', async () => clearInterval(cleanup));
  },
  { name: 'idempotency', dependencies: ['database'] },
);
