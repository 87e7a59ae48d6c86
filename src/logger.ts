import type { FastifyRequest, FastifyServerOptions } from 'fastify';
import type { Config } from './config.js';
import pino from 'pino';

type LoggerOptions = Exclude<NonNullable<FastifyServerOptions['logger']>, boolean>;

/** Headers that carry credentials, wherever a log line might include them. */
const secretHeaders = ['x-app-token', 'authorization', 'cookie', 'set-cookie'];
const REDACTED = '[redacted]';

/** Query parameters that carry credentials: the cockpit link's token. */
const secretQueryParameter = /([?&]token=)[^&#]*/gi;

/** Paths of the signed links the service hands out: their query strings carry the links' tokens. */
const SIGNED_LINK_PATHS = ['/cockpit', '/async-action-reports'];

/**
 * Whether a path is (or might be) a signed link's: looked for after percent-decoding, anywhere in
 * the path, in any case; a path that does not decode counts as one.
 */
function maySignLinks(path: string): boolean {
  try {
    const decoded = decodeURIComponent(path).toLowerCase();
    return SIGNED_LINK_PATHS.some((signed) => decoded.includes(signed));
  } catch {
    return true;
  }
}

/**
 * A URL as logs may show it. The query string of a signed link (the cockpit page, a report
 * download) is left out whole: a token can be spelled in too many ways (`%74oken=`, `token%3D…`,
 * `token[]=`…) for a pattern to catch them all.
 */
export function redactUrl(url: string): string {
  const queryStart = url.indexOf('?');
  if (queryStart === -1) return url;
  const path = url.slice(0, queryStart);
  return maySignLinks(path) ? `${path}?${REDACTED}` : url.replace(secretQueryParameter, `$1${REDACTED}`);
}

const isFastifyRequest = (value: FastifyRequest | Record<string, unknown>): value is FastifyRequest =>
  typeof value.url === 'string' && 'raw' in value && 'routeOptions' in value;

/**
 * Stdout written in blocks of up to 4 KiB rather than a system call for each line (lighter than
 * a transport's worker thread too). A quiet service still writes its lines within a second, and
 * pino flushes what is left when the process exits.
 */
function bufferedStdout() {
  const stream = pino.destination({ dest: 1, sync: false, minLength: 4096 });
  // With a callback, flushing a stream that shutdown already closed is not an error.
  setInterval(() => stream.flush(() => undefined), 1000).unref();
  return stream;
}

/**
 * pino's options for the service: JSON lines (readable ones when asked, e.g. in a terminal),
 * each request's lines labelled with its `request_id` by Fastify, secrets never written.
 */
export function loggerOptions(config: Pick<Config, 'logLevel' | 'prettyLogs'>): LoggerOptions {
  return {
    level: config.logLevel,
    redact: {
      paths: secretHeaders.flatMap((header) => [`req.headers["${header}"]`, `headers["${header}"]`, `res.headers["${header}"]`]),
      censor: REDACTED,
    },
    serializers: {
      // Fastify's requests; anything else logged as `req` is left to the redaction paths.
      req: (request: FastifyRequest | Record<string, unknown>) =>
        isFastifyRequest(request)
          ? {
              method: request.method,
              url: redactUrl(request.url),
              host: request.host,
              remoteAddress: request.ip,
              appId: request.headers['x-app-id'],
            }
          : request,
    },
    ...(config.prettyLogs
      ? { transport: { target: 'pino-pretty', options: { translateTime: 'SYS:standard', ignore: 'pid,hostname' } } }
      : { stream: bufferedStdout() }),
  };
}
