import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import type { ApiKey, AuthFailureLimits } from '../config.js';
import { ApiError } from '../errors.js';

export interface AuthOptions {
  apiKeys: ApiKey[];
  failureLimits: AuthFailureLimits;
}

const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

const WINDOW_MS = 60_000;

/**
 * Failed authentications counted per key in fixed one-minute windows. All counts go at once when
 * a window ends, so memory holds no more keys than a minute's failures brought.
 */
function failureWindow(now = Date.now) {
  let counts = new Map<string, number>();
  let windowEnd = 0;
  const current = () => {
    if (now() >= windowEnd) {
      counts = new Map();
      windowEnd = now() + WINDOW_MS;
    }
    return counts;
  };
  return {
    /** Whether `key` has failed `limit` times or more in this window. */
    reached: (key: string, limit: number) => limit > 0 && (current().get(key) ?? 0) >= limit,
    count(key: string) {
      const window = current();
      window.set(key, (window.get(key) ?? 0) + 1);
    },
    /** Whole seconds until the window ends. */
    secondsLeft: () => Math.max(1, Math.ceil((windowEnd - now()) / 1000)),
  };
}

/**
 * Requires `X-App-Id` and `X-App-Token` on every route of the scope it is registered in.
 * Secrets are compared as SHA-256 digests with timingSafeEqual, so neither a secret's
 * content nor its length shows in the response time; an unknown app id costs the same.
 *
 * Failures are throttled per client address and per app id named: once either has failed its
 * limit in the current minute, every request from that address or for that app id is answered
 * 429 with Retry-After until the minute ends, right credentials included (otherwise a guess
 * would still tell by its answer whether it was right).
 */
export default fp<AuthOptions>(
  async (app, { apiKeys, failureLimits }) => {
    const secrets = new Map(apiKeys.map(({ appId, secret }) => [appId, digest(secret)]));
    const unknownApp = digest('');
    const failures = failureWindow();

    const throttled = (request: FastifyRequest, appId: string | undefined): ApiError | undefined => {
      const byAddress = failures.reached(`address ${request.ip}`, failureLimits.perAddress);
      const byApp = appId !== undefined && failures.reached(`app ${appId}`, failureLimits.perAppId);
      if (!byAddress && !byApp) return undefined;
      const retryAfter = failures.secondsLeft();
      const source = byAddress ? 'from this address' : 'for this app id';
      return new ApiError(429, {
        details: `Too many failed authentications ${source} in a minute: retry in ${retryAfter} s`,
        retryAfter,
      });
    };

    app.addHook('onRequest', (request, _reply, done) => {
      const appId = request.headers['x-app-id'];
      const token = request.headers['x-app-token'];
      const namedApp = typeof appId === 'string' ? appId : undefined;
      const refused = throttled(request, namedApp);
      if (refused) return done(refused);
      const expected = namedApp === undefined ? undefined : secrets.get(namedApp);
      const matches = typeof token === 'string' && timingSafeEqual(digest(token), expected ?? unknownApp);
      if (expected && matches) return done();
      failures.count(`address ${request.ip}`);
      if (namedApp !== undefined) failures.count(`app ${namedApp}`);
      done(new ApiError(401));
    });
  },
  { name: 'auth' },
);
