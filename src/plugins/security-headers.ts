import helmet from '@fastify/helmet';
import fp from 'fastify-plugin';

/**
 * Helmet's security headers on every response. Its default Content-Security-Policy suits
 * both pages this service serves (/docs loads only its own scripts; the cockpit page has
 * none), except `upgrade-insecure-requests`: a service reached over plain HTTP on a private
 * network would have its pages' own assets upgraded to an HTTPS port that does not exist.
 */
export default fp(
  async (app) => {
    await app.register(helmet, {
      contentSecurityPolicy: { directives: { upgradeInsecureRequests: null } },
    });
  },
  { name: 'security-headers' },
);
