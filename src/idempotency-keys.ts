import { createHash } from 'node:crypto';
import { escapeLiteral } from 'pg';
import type { Queryable } from './transaction.js';

/**
 * Requests sent with an Idempotency-Key (the IETF httpapi draft "The Idempotency-Key HTTP
 * Header Field", with Stripe's semantics where it leaves room): the rules and the stored
 * answers. The plugin that applies them to requests is src/plugins/idempotency.ts.
 */

/** 1 to 255 printable ASCII characters. */
const KEY_FORMAT = /^[\x20-\x7e]{1,255}$/;
export const KEY_FORMAT_DETAILS = 'The Idempotency-Key header must be 1 to 255 printable ASCII characters';

export const isValidKey = (key: string): boolean => KEY_FORMAT.test(key);

/** Seconds a client waits before sending again a request whose key is still in use. */
export const IN_USE_RETRY_AFTER_SECONDS = 1;

/**
 * Which answers are stored, to be replayed for the same key: those of a request that ran to
 * completion, 2xx and 4xx. Not stored (the transaction is rolled back and the key stays free):
 * 5xx (the service failed, a retry may succeed) and 409 (a conflict with a concurrent request,
 * meant to be sent again). Answers given before a request runs (authentication, rate limit,
 * body parsing and validation, a bad key, the key in use or reused) never reach this far.
 */
export const isStoredStatus = (status: number): boolean => status < 500 && status !== 409;

const sha256 = (text: string | Buffer) => createHash('sha256').update(text).digest('hex');

/** What makes two requests the same request: method, path and a digest of the body. */
export const fingerprint = (method: string, url: string, bodyDigest: string): string => sha256(`${method} ${url}\n${bodyDigest}`);

/** A JSON body's digest: the parsed body serialized again, so it does not depend on how the body was sent. */
export const jsonDigest = (body: unknown): string => sha256(JSON.stringify(body ?? null));

/** The advisory lock of an app's key: one request at a time runs with it, in every process. */
function lockId(appId: string, key: string): string {
  return createHash('sha256').update(appId).update('\0').update(key).digest().readBigInt64BE().toString();
}

/** An answer as stored and replayed. */
export interface StoredAnswer {
  fingerprint: string;
  status: number;
  /** The headers a replay repeats, lowercase names. */
  headers: Record<string, string>;
  body: string;
}

export function createIdempotencyKeyStore({ ttlSeconds }: { ttlSeconds: number }) {
  return {
    /**
     * Begins the transaction a keyed request runs in, taking its key for as long as the
     * transaction lasts (`locked`, false while another transaction holds it), and reads the
     * stored answer as of after the lock: one committed by the key's previous holder is seen.
     * One round trip: each statement of the string runs in turn, on a snapshot of its own, and
     * the values are escaped literals (the key is printable ASCII, the lock id a number).
     */
    async begin(tx: Queryable, appId: string, key: string): Promise<{ locked: boolean; stored?: StoredAnswer }> {
      const results = (await tx.query(
        `BEGIN; SELECT pg_try_advisory_xact_lock(${lockId(appId, key)}) AS locked;
         SELECT fingerprint, status, headers, body FROM idempotency_keys
         WHERE app_id = ${escapeLiteral(appId)} AND key = ${escapeLiteral(key)} AND expires_at > now()`,
      )) as unknown as [unknown, { rows: Array<{ locked: boolean }> }, { rows: StoredAnswer[] }];
      return { locked: results[1].rows[0]!.locked, stored: results[2].rows[0] };
    },

    /**
     * Stores the answer and commits the transaction of the request's writes with it. The insert is
     * a prepared statement (the body can be large: no literal to escape, no text to parse each
     * time). An expired answer to the key is replaced.
     */
    async storeAndCommit(tx: Queryable, appId: string, key: string, answer: StoredAnswer): Promise<void> {
      await tx.query(
        `INSERT INTO idempotency_keys (app_id, key, fingerprint, status, headers, body, created_at, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, now(), now() + make_interval(secs => $7))
         ON CONFLICT (app_id, key) DO UPDATE SET fingerprint = excluded.fingerprint, status = excluded.status,
           headers = excluded.headers, body = excluded.body, created_at = excluded.created_at, expires_at = excluded.expires_at`,
        [appId, key, answer.fingerprint, answer.status, JSON.stringify(answer.headers), answer.body, ttlSeconds],
      );
      await tx.query('COMMIT');
    },

    /**
     * Deletes up to `limit` expired answers, oldest first, through the expires_at index; rows
     * another process is deleting are skipped. Answers how many went.
     */
    async removeExpired(db: Queryable, limit: number): Promise<number> {
      const { rowCount } = await db.query(
        `DELETE FROM idempotency_keys WHERE (app_id, key) IN (
           SELECT app_id, key FROM idempotency_keys WHERE expires_at <= now()
           ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED)`,
        [limit],
      );
      return rowCount ?? 0;
    },
  };
}

export type IdempotencyKeyStore = ReturnType<typeof createIdempotencyKeyStore>;
