import type { IncomingMessage, ServerResponse } from 'node:http';
import fp from 'fastify-plugin';
import helmet from 'helmet';

/** The headers a helmet middleware sets, read once from a response that records them. */
function helmetHeaders(options: Parameters<typeof helmet>[0]): Record<string, string> {
  const headers: Record<string, string> = {};
  const recorder = {
    setHeader: (name: string, value: string) => (headers[name.toLowerCase()] = value),
    removeHeader: (name: string) => delete headers[name.toLowerCase()],
  };
  helmet(options)({} as IncomingMessage, recorder as unknown as ServerResponse, (error?: unknown) => {
    if (error) throw error;
  });
  return headers;
}

/**
 * Helmet's security headers on every response. Its default Content-Security-Policy suits
 * both pages this service serves (/docs loads only its own scripts; the cockpit page has
 * none), except `upgrade-insecure-requests`: a service reached over plain HTTP on a private
 * network would have its pages' own assets upgraded to an HTTPS port that does not exist.
 * Strict-Transport-Security goes only on answers to HTTPS requests (RFC 6797 §7.2: browsers
 * ignore it over HTTP): the service speaks plain HTTP itself, so a request is HTTPS when a
 * trusted proxy (TRUST_PROXY) says so in X-Forwarded-Proto.
 *
 * With these options the headers are the same for every request, so they are computed once.
 * (@fastify/helmet builds helmet's middleware again for each request: about 5% of the
 * service's CPU time in the benchmarks.)
 */
export default fp(
  async (app) => {
    const { 'strict-transport-security': hsts, ...headers } = helmetHeaders({
      contentSecurityPolicy: { directives: { upgradeInsecureRequests: null } },
    });
    app.addHook('onRequest', (request, reply, done) => {
      reply.headers(headers);
      if (request.protocol === 'https' && hsts !== undefined) reply.header('strict-transport-security', hsts);
      done();
    });
  },
  { name: 'security-headers' },
);
