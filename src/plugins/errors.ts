import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { ApiError, errorKeys } from '../errors.js';
import type { ErrorBody } from '../schemas/common.js';
import { validationError } from '../validation.js';

/** Seconds a client should wait after a 503 before trying again. */
const RETRY_AFTER_SECONDS = 5;

/**
 * Errors that mean the database cannot be reached (refused, reset, shut down, out of
 * connections), as opposed to a query that failed: the service is unavailable, not broken.
 */
const unreachableDatabaseCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'ETIMEDOUT',
  'EPIPE',
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '53300', // too_many_connections
  '08000', // connection_exception
  '08001', // sqlclient_unable_to_establish_sqlconnection
  '08003', // connection_does_not_exist
  '08006', // connection_failure
]);

const isUnreachableDatabase = (error: { code?: string; message?: string }): boolean =>
  (error.code !== undefined && unreachableDatabaseCodes.has(error.code)) ||
  error.message === 'Connection terminated unexpectedly' ||
  error.message === 'Connection terminated due to connection timeout';

/** Any error, as one the client may see: schema failures name the property, internals stay hidden. */
function toApiError(error: FastifyError | ApiError): ApiError {
  if (error instanceof ApiError) return error;
  if (isUnreachableDatabase(error)) return new ApiError(503, { details: 'The database is unreachable' });
  if (error.validation) return validationError(error.validation, error.validationContext ?? 'body');
  if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    return new ApiError(414, { details: 'A path segment is longer than any customer id or source_id can be' });
  }
  if (error.code === 'FST_ERR_BAD_URL') return new ApiError(400, { details: 'The URL is not validly percent-encoded' });
  const status = error.statusCode ?? 500;
  // Fastify's own client errors (body too large, bad media type...) carry safe, useful messages.
  if (status >= 400 && status < 500) return new ApiError(status in errorKeys ? status : 400, { details: error.message });
  return new ApiError(500);
}

export const errorBody = (error: ApiError, requestId: string): ErrorBody => ({
  code: error.statusCode,
  key: error.key,
  message: error.message,
  ...(error.details !== undefined && { details: error.details }),
  request_id: requestId,
  ...(error.resourceId !== undefined && { resource_id: error.resourceId }),
  ...(error.resourceType !== undefined && { resource_type: error.resourceType }),
});

/** Sends any error as the contract's error body, with the request id. */
export function replyWithError(error: FastifyError | ApiError, request: FastifyRequest, reply: FastifyReply) {
  const apiError = toApiError(error);
  if (apiError.statusCode >= 500) request.log.error({ err: error }, 'request failed');
  if (apiError.statusCode === 503 && !reply.hasHeader('retry-after')) reply.header('retry-after', RETRY_AFTER_SECONDS);
  return reply.code(apiError.statusCode).send(errorBody(apiError, request.id));
}

/** Every failure leaves as the contract's error body: route errors, unknown routes, bad URLs. */
export default fp(
  async (app) => {
    app.setErrorHandler(replyWithError);
    app.setNotFoundHandler((request, reply) =>
      replyWithError(
        new ApiError(404, { details: `No route for ${request.method} ${request.url.slice(0, 200)}` }),
        request,
        reply,
      ),
    );
  },
  { name: 'errors' },
);
