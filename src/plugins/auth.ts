import { createHash, timingSafeEqual } from 'node:crypto';
import fp from 'fastify-plugin';
import type { ApiKey } from '../config.js';
import { ApiError } from '../errors.js';

export interface AuthOptions {
  apiKeys: ApiKey[];
}

const digest = (value: string): Buffer => createHash('sha256').update(value).digest();

/**
 * Requires `X-App-Id` and `X-App-Token` on every route of the scope it is registered in.
 * Secrets are compared as SHA-256 digests with timingSafeEqual, so neither a secret's
 * content nor its length shows in the response time; an unknown app id costs the same.
 */
export default fp<AuthOptions>(
  async (app, { apiKeys }) => {
    const secrets = new Map(apiKeys.map(({ appId, secret }) => [appId, digest(secret)]));
    const unknownApp = digest('');

    app.addHook('onRequest', (request, _reply, done) => {
      const appId = request.headers['x-app-id'];
      const token = request.headers['x-app-token'];
      if (typeof appId !== 'string' || typeof token !== 'string') return done(new ApiError(401));
      const expected = secrets.get(appId);
      const matches = timingSafeEqual(digest(token), expected ?? unknownApp);
      done(expected && matches ? undefined : new ApiError(401));
    });
  },
  { name: 'auth' },
);
