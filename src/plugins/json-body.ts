import fp from 'fastify-plugin';
import secureJson from 'secure-json-parse';
import { ApiError } from '../errors.js';

/**
 * JSON is the only body this API reads. An empty body is no body (the official SDK sends
 * `Content-Type: application/json` on DELETE); `__proto__` and `constructor.prototype` keys,
 * which could poison objects later, are refused.
 */
export default fp(
  async (app) => {
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
      if (body === '') return done(null, undefined);
      try {
        done(null, secureJson.parse(body as string, undefined, { protoAction: 'error', constructorAction: 'error' }));
      } catch (error) {
        const forbidden = error instanceof Error && error.message.includes('forbidden prototype property');
        const details = forbidden
          ? 'The request body contains a forbidden __proto__ or constructor.prototype key'
          : 'The request body is not valid JSON';
        done(new ApiError(400, { details }), undefined);
      }
    });
  },
  { name: 'json-body' },
);
