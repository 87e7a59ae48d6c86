import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import fp from 'fastify-plugin';

export interface DocsOptions {
  version: string;
}

/** The credentials every /v1 operation needs, as OpenAPI security schemes. */
const securitySchemes = {
  appId: { type: 'apiKey', in: 'header', name: 'X-App-Id', description: 'Your application id.' },
  appToken: { type: 'apiKey', in: 'header', name: 'X-App-Token', description: "Your application's secret key." },
} as const;

/**
 * `GET /openapi.json`: an OpenAPI 3 document generated from every route's schemas, so a
 * route added anywhere shows up with its summary, description and examples. `GET /docs`:
 * Swagger UI on that document, from assets bundled in the package (no CDN), so it works
 * offline. Must be registered before the routes it documents.
 */
export default fp<DocsOptions>(
  async (app, { version }) => {
    await app.register(swagger, {
      openapi: {
        openapi: '3.0.3',
        info: {
          title: 'Customer service',
          version,
          description:
            'Customer profiles in the wire format of the Voucherify Customers API. Every `/v1` request needs `X-App-Id` and `X-App-Token`; errors are the `Error` body with the request id.',
        },
        components: { securitySchemes },
        tags: [
          { name: 'Customers', description: 'Customer profiles.' },
          { name: 'Operations', description: 'Health checks and metrics, without authentication.' },
        ],
      },
      transform: ({ schema, url }) => ({
        url,
        schema: url.startsWith('/v1/') ? { ...schema, security: [{ appId: [], appToken: [] }] } : schema,
      }),
    });
    app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
    await app.register(swaggerUi, {
      routePrefix: '/docs',
      // validatorUrl: null keeps the page from sending the document to an online validator.
      uiConfig: { docExpansion: 'list', deepLinking: true, validatorUrl: null },
    });
  },
  { name: 'docs' },
);
