import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { cockpitErrorPage, cockpitNotFoundPage, cockpitPage } from '../customers/cockpit.js';
import { ApiError } from '../errors.js';

/** No scripts, no outside resources: the page is static HTML with its own inline style. */
const PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/**
 * `GET /cockpit/:customerId?token=…`: the read-only profile page a customer's
 * `assets.cockpit_url` links to. Every failure is an HTML page: a missing, forged or foreign
 * token looks exactly like an unknown customer (404).
 */
const cockpit: FastifyPluginAsyncTypebox = async (app) => {
  app.setErrorHandler((error: Error & { statusCode?: number }, request, reply) => {
    const notFound = error instanceof ApiError ? error.statusCode === 404 : error.statusCode === 400;
    if (!notFound) request.log.error({ err: error }, 'cockpit page failed');
    return reply
      .code(notFound ? 404 : 500)
      .type('text/html; charset=utf-8')
      .header('content-security-policy', PAGE_CSP)
      .send(notFound ? cockpitNotFoundPage() : cockpitErrorPage(request.id));
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
