import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyError } from 'fastify';
import { cockpitErrorPage, cockpitNotFoundPage, cockpitPage, cockpitUnavailablePage } from '../customers/cockpit.js';
import { toApiError } from '../plugins/errors.js';

/** No scripts, no outside resources: the page is static HTML with its own inline style. */
const PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/**
 * `GET /cockpit/:customerId?token=…`: the read-only profile page a customer's
 * `assets.cockpit_url` links to. Every failure is an HTML page: any client error (a missing,
 * forged or foreign token, an id or token no customer can have) looks exactly like an unknown
 * customer (404); a database out of reach is a 503 to retry.
 */
const cockpit: FastifyPluginAsyncTypebox = async (app) => {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    const { statusCode, retryAfter } = toApiError(error);
    const page =
      statusCode < 500 ? cockpitNotFoundPage() : statusCode === 503 ? cockpitUnavailablePage() : cockpitErrorPage(request.id);
    if (statusCode === 500) request.log.error({ err: error }, 'cockpit page failed');
    if (retryAfter !== undefined) reply.header('retry-after', String(retryAfter));
    return reply
      .code(statusCode < 500 ? 404 : statusCode)
      .type('text/html; charset=utf-8')
      .header('content-security-policy', PAGE_CSP)
      .send(page);
  });

  app.get(
    '/cockpit/:customerId',
    {
      schema: {
        hide: true,
        params: Type.Object({ customerId: Type.String() }),
        querystring: Type.Object({ token: Type.String({ minLength: 1, maxLength: 200 }) }),
      },
    },
    async (request, reply) =>
      reply
        .type('text/html; charset=utf-8')
        .header('content-security-policy', PAGE_CSP)
        .header('cache-control', 'no-store')
        .send(cockpitPage(await app.customers.cockpit(request.params.customerId, request.query.token))),
  );
};

export default cockpit;
