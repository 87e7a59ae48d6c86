import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { ApiError, errorKeys, multipartLimitError } from '../errors.js';
import { newRequestId } from '../ids.js';
import type { ErrorBody } from '../schemas/common.js';
import { validationError } from '../validation.js';
import { isDatabaseUnavailable } from './database.js';

/** Any error, as one the client may see: schema failures name the property, internals stay hidden. */
export function toApiError(error: FastifyError | ApiError): ApiError {
  if (error instanceof ApiError) return error;
  if (error.validation) return validationError(error.validation, error.validationContext ?? 'body');
  if (isDatabaseUnavailable(error)) {
    return new ApiError(503, { details: 'The database is unavailable: retry shortly', retryAfter: 1 });
  }
  if (error.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    return new ApiError(414, { details: 'A path segment is longer than any customer id or source_id can be' });
  }
  const multipartLimit = multipartLimitError(error);
  if (multipartLimit) return multipartLimit;
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
  if (apiError.retryAfter !== undefined) reply.header('retry-after', String(apiError.retryAfter));
  // Errors found while routing (a bad URL) come before any hook has set this header.
  reply.header('x-request-id', request.id);
  return reply.code(apiError.statusCode).send(errorBody(apiError, request.id));
}

/**
 * A request so malformed that Node's HTTP parser rejects it never becomes a Fastify request;
 * it still gets the contract's error body (and a request id) before the connection closes.
 */
export function clientErrorHandler(error: Error & { code?: string }, socket: Socket) {
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const status = error.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : error.code === 'HPE_HEADER_OVERFLOW' ? 431 : 400;
  const requestId = newRequestId();
  const body = JSON.stringify(
    errorBody(new ApiError(status, { details: status === 400 ? 'The request is not valid HTTP' : undefined }), requestId),
  );
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\nX-Request-Id: ${requestId}\r\nConnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(error);
}

/** Every failure leaves as the contract's error body: route errors, unknown routes, bad URLs. */
export default fp(
  async (app) => {
    const noRoute = (request: FastifyRequest) =>
      new ApiError(404, { details: `No route for ${request.method} ${request.url.slice(0, 200)}` });
    app.setErrorHandler(replyWithError);
    // A path no route answers is refused before its body is read, however slowly the body comes.
    app.addHook('preParsing', async (request) => {
      if (request.is404) throw noRoute(request);
    });
    app.setNotFoundHandler((request, reply) => replyWithError(noRoute(request), request, reply));
  },
  { name: 'errors' },
);
