import type { IncomingMessage } from 'node:http';
import fp from 'fastify-plugin';
import secureJson from 'secure-json-parse';
import { ApiError } from '../errors.js';
import { isStorableText as storable, UNSTORABLE_TEXT as UNSTORABLE } from '../validation.js';

/** Rejects what cannot be stored while the JSON is parsed, keys and values alike. */
function rejectUnstorable(key: string, value: unknown): unknown {
  if (!storable(key) || (typeof value === 'string' && !storable(value))) {
    throw new ApiError(400, { details: `The request body ${UNSTORABLE}` });
  }
  return value;
}

/**
 * How deep a JSON body may nest. The deepest a valid body goes is a bulk array of customers whose
 * metadata nests 5 levels and ends in an array (8 levels); deeper bodies are refused before they
 * are parsed, so that no later step (validation, serialization) recurses through thousands of levels.
 */
export const MAX_JSON_DEPTH = 32;

/** Whether JSON text nests objects and arrays more than `limit` levels deep (brackets in strings do not count). */
function nestsDeeperThan(text: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let index = 0; index < text.length; index += 1) {
    const code = text.charCodeAt(index);
    if (inString) {
      if (code === 0x5c)
        index += 1; // a backslash escapes the next character
      else if (code === 0x22) inString = false;
    } else if (code === 0x22) {
      inString = true;
    } else if (code === 0x7b || code === 0x5b) {
      depth += 1;
      if (depth > limit) return true;
    } else if (code === 0x7d || code === 0x5d) {
      depth -= 1;
    }
  }
  return false;
}

/** Whether the request announced a body that has not all arrived yet. */
const bodyPending = ({ headers, complete }: IncomingMessage): boolean =>
  !complete && (Number(headers['content-length']) > 0 || headers['transfer-encoding'] !== undefined);

/**
 * What the service reads from a request. JSON is the only body type; an empty body is no body
 * (the official SDK sends `Content-Type: application/json` on DELETE); bodies nested deeper than
 * MAX_JSON_DEPTH, and `__proto__` and
 * `constructor.prototype` keys, which could poison objects later, are refused; so are strings,
 * in the body or the URL, that PostgreSQL could not store.
 */
export default fp(
  async (app) => {
    app.addHook('onRequest', (request, _reply, done) => {
      done(request.url.includes('%00') ? new ApiError(400, { details: `The URL ${UNSTORABLE}` }) : undefined);
    });
    // An answer sent before the request's body has all arrived (an unknown route's 404, a 401, an
    // import's 202 with parts after the file still coming...) closes the connection: otherwise
    // Node would go on reading the rest of the body to reuse the connection, as slowly as it comes.
    app.addHook('onSend', (request, reply, _payload, done) => {
      if (bodyPending(request.raw)) reply.header('connection', 'close');
      done();
    });

    app.removeAllContentTypeParsers();
    app.addContentTypeParser('application/json', { parseAs: 'string' }, (_request, body, done) => {
      if (body === '') return done(null, undefined);
      if (nestsDeeperThan(body as string, MAX_JSON_DEPTH)) {
        return done(new ApiError(400, { details: `The request body nests deeper than ${MAX_JSON_DEPTH} levels` }), undefined);
      }
      try {
        // Valid JSON holds a NUL or a lone surrogate only as a \u escape (raw control characters
        // are not JSON, and the body was decoded from UTF-8), so bodies without one skip the check.
        const reviver = (body as string).includes('\\u') ? rejectUnstorable : undefined;
        done(null, secureJson.parse(body as string, reviver, { protoAction: 'error', constructorAction: 'error' }));
      } catch (error) {
        if (error instanceof ApiError) return done(error, undefined);
        const forbidden = error instanceof Error && error.message.includes('forbidden prototype property');
        const details = forbidden
          ? 'The request body contains a forbidden __proto__ or constructor.prototype key'
          : 'The request body is not valid JSON';
        done(new ApiError(400, { details }), undefined);
      }
    });
  },
  { name: 'input' },
);
