import rateLimit from '@fastify/rate-limit';
import fp from 'fastify-plugin';
import { ApiError } from '../errors.js';

export interface RateLimitOptions {
  /** Requests each app id may make per minute; 0 turns the limit off. */
  perMinute: number;
}

const WINDOW_MS = 60_000;

/**
 * Limits each app id (`X-App-Id`, already authenticated) to `perMinute` requests per fixed
 * one-minute window, with Voucherify's headers on every answer: `X-Rate-Limit-Limit`,
 * `X-Rate-Limit-Remaining` and `X-Rate-Limit-Retry` (Unix time, in seconds, when the window
 * resets); over the limit, 429 in the Error shape with `Retry-After`. Counts are kept in
 * this process's memory: several instances each allow the limit.
 */
export default fp<RateLimitOptions>(
  async (app, { perMinute }) => {
    if (perMinute === 0) return;
    // The plugin's store and window arithmetic, with Voucherify's header names instead of its own.
    await app.register(rateLimit, { global: false, max: perMinute, timeWindow: WINDOW_MS });
    const limit = app.createRateLimit({ keyGenerator: (request) => String(request.headers['x-app-id']) });

    app.addHook('onRequest', async (request, reply) => {
      const state = await limit(request);
      if (state.isAllowed) return; // no allow list is configured: never the case
      const { remaining, ttl, ttlInSeconds, isExceeded } = state;
      reply.header('x-rate-limit-limit', perMinute);
      reply.header('x-rate-limit-remaining', remaining);
      reply.header('x-rate-limit-retry', Math.ceil((Date.now() + ttl) / 1000));
      if (isExceeded) {
        throw new ApiError(429, {
          details: `More than ${perMinute} requests in a minute for this app id: retry in ${ttlInSeconds} s`,
          retryAfter: ttlInSeconds,
        });
      }
    });
  },
  { name: 'rate-limit', dependencies: ['auth'] },
);
