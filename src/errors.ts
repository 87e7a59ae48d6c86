import { CSV_UPLOAD_LIMITS } from './schemas/async-action.js';

/** Keys of the contract's error bodies, by HTTP status. */
export const errorKeys: Record<number, { key: string; message: string }> = {
  400: { key: 'invalid_payload', message: 'Invalid payload' },
  401: { key: 'unauthorized', message: 'Unauthorized' },
  404: { key: 'not_found', message: 'Resource not found' },
  405: { key: 'method_not_allowed', message: 'Method not allowed' },
  408: { key: 'request_timeout', message: 'Request timeout' },
  412: { key: 'precondition_failed', message: 'Precondition failed' },
  413: { key: 'payload_too_large', message: 'Payload too large' },
  414: { key: 'uri_too_long', message: 'URI too long' },
  415: { key: 'unsupported_media_type', message: 'Unsupported media type' },
  431: { key: 'request_header_fields_too_large', message: 'Request header fields too large' },
  429: { key: 'too_many_requests', message: 'Too many requests' },
  500: { key: 'internal_error', message: 'Internal server error' },
  503: { key: 'service_unavailable', message: 'Service unavailable' },
};

interface ApiErrorFields {
  key?: string;
  /** Seconds after which a retry may succeed, sent as Retry-After. */
  retryAfter?: number;
  message?: string;
  details?: string;
  resourceId?: string;
  resourceType?: string;
}

/** An error the client is meant to see: the error handler turns it into the contract's body. */
export class ApiError extends Error {
  readonly key: string;
  readonly details?: string;
  readonly resourceId?: string;
  readonly resourceType?: string;
  readonly retryAfter?: number;

  constructor(
    readonly statusCode: number,
    fields: ApiErrorFields = {},
  ) {
    const known = errorKeys[statusCode] ?? errorKeys[500]!;
    super(fields.message ?? known.message);
    this.name = 'ApiError';
    this.key = fields.key ?? known.key;
    this.details = fields.details;
    this.resourceId = fields.resourceId;
    this.resourceType = fields.resourceType;
    this.retryAfter = fields.retryAfter;
  }
}

export const invalidQuery = (details: string): ApiError =>
  new ApiError(400, { key: 'invalid_query_params', message: 'Invalid query params', details });

/** An If-Match that no longer names the customer's version: it changed since the client read it. */
export const preconditionFailed = (resourceType: string, resourceId: string): ApiError =>
  new ApiError(412, {
    details: `The ${resourceType} changed since the version named by If-Match: read it again`,
    resourceId,
    resourceType,
  });

export const notFound = (resourceType: string, resourceId: string): ApiError =>
  new ApiError(404, {
    details: `Cannot find ${resourceType} with id ${resourceId}`,
    resourceId,
    resourceType,
  });

/** @fastify/multipart's limit errors (the CSV import's body), by code, saying which limit was passed. */
const TOO_MANY_FIELDS = `The multipart/form-data body has more than ${CSV_UPLOAD_LIMITS.fields} fields besides the file`;
const multipartLimits: Record<string, string> = {
  FST_FIELDS_LIMIT: TOO_MANY_FIELDS,
  FST_PARTS_LIMIT: `The multipart/form-data body has more than ${CSV_UPLOAD_LIMITS.parts} parts`,
  FST_FILES_LIMIT: 'The multipart/form-data body has more than one file',
};

/** The 413 to answer when `error` is @fastify/multipart's for a limit passed, else undefined. */
export function multipartLimitError(error: unknown): ApiError | undefined {
  const code = (error as { code?: unknown } | null | undefined)?.code;
  const details = typeof code === 'string' && Object.hasOwn(multipartLimits, code) ? multipartLimits[code] : undefined;
  return details === undefined ? undefined : new ApiError(413, { details });
}

export const tooManyMultipartFields = (): ApiError => new ApiError(413, { details: TOO_MANY_FIELDS });
