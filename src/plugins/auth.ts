import { createHash, timingSafeEqual } from 'node:crypto';
import fp from 'fastify-plugin';
import type { ApiKey, AuthFailureLimits } from '../config.js';
import { ApiError } from '../errors.js';

const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

const WINDOW_MS = 60_000;

/**
 * Failed authentications counted per client address and per app id named, in fixed one-minute
 * windows. All counts go at once when a window ends, so memory holds no more keys than a minute's
 * failures brought. Once an address or an app id has failed its limit, `refusal` answers every
 * request from that address or for that app id until the window ends, right credentials included
 * (otherwise a guess would still tell by its answer whether it was right).
 */
export function authFailureThrottle({ perAddress, perAppId }: AuthFailureLimits, now = Date.now) {
  let counts = new Map<string, number>();
  let windowEnd = 0;
  const current = () => {
    if (now() >= windowEnd) {
      counts = new Map();
      windowEnd = now() + WINDOW_MS;
    }
    return counts;
  };
  const reached = (key: string, limit: number) => limit > 0 && (current().get(key) ?? 0) >= limit;
  const count = (key: string) => {
    const window = current();
    window.set(key, (window.get(key) ?? 0) + 1);
  };
  return {
    /** The 429 to answer a request from `address` naming `appId`, if either is over its limit. */
    refusal(address: string, appId: string | undefined): ApiError | undefined {
      const byAddress = reached(`address ${address}`, perAddress);
      if (!byAddress && (appId === undefined || !reached(`app ${appId}`, perAppId))) return undefined;
      const retryAfter = Math.max(1, Math.ceil((windowEnd - now()) / 1000));
      const source = byAddress ? 'from this address' : 'for this app id';
      return new ApiError(429, {
        details: `Too many failed authentications ${source} in a minute: retry in ${retryAfter} s`,
        retryAfter,
      });
    },
    failed(address: string, appId: string | undefined) {
      count(`address ${address}`);
      if (appId !== undefined) count(`app ${appId}`);
    },
  };
}

export type AuthFailureThrottle = ReturnType<typeof authFailureThrottle>;

export interface AuthOptions {
  apiKeys: ApiKey[];
  /** Shared by every scope that authenticates, so that each does not get a budget of its own. */
  failures: AuthFailureThrottle;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** The route serves a file to whoever holds its signed link: a request with `token` needs no API key. */
    signedDownload?: boolean;
  }
}

/**
 * Requires `X-App-Id` and `X-App-Token` on every route of the scope it is registered in.
 * Secrets are compared as SHA-256 digests with timingSafeEqual, so neither a secret's
 * content nor its length shows in the response time; an unknown app id costs the same.
 * Failures are throttled (see authFailureThrottle): 429 with Retry-After.
 */
export default fp<AuthOptions>(
  async (app, { apiKeys, failures }) => {
    const secrets = new Map(apiKeys.map(({ appId, secret }) => [appId, digest(secret)]));
    const unknownApp = digest('');

    app.addHook('onRequest', (request, _reply, done) => {
      // A download link's token is its credential, which the route checks (GET /v1/exports/:id?token=…).
      if (request.routeOptions.config.signedDownload && typeof (request.query as { token?: unknown }).token === 'string') {
        return done();
      }
      const header = request.headers['x-app-id'];
      const appId = typeof header === 'string' ? header : undefined;
      const token = request.headers['x-app-token'];
      const refused = failures.refusal(request.ip, appId);
      if (refused) return done(refused);
      const expected = appId === undefined ? undefined : secrets.get(appId);
      const matches = typeof token === 'string' && timingSafeEqual(digest(token), expected ?? unknownApp);
      if (expected && matches) return done();
      failures.failed(request.ip, appId);
      done(new ApiError(401));
    });
  },
  { name: 'auth' },
);
