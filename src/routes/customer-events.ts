import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { CustomerEventList, CustomerEventsQuery } from '../schemas/activity.js';
import { errorResponses as errors } from '../schemas/common.js';

const routes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/customer-events',
    {
      schema: {
        tags: ['Customer activity'],
        summary: "List every customer's events",
        description:
          'The feed of all changes to customers, in the order they committed: the activity events, with `object: "event"`. ' +
          'Page, or poll, by passing `more_starting_after` (the last event of a page) as `starting_after`: a cursor never ' +
          'passes an event committed later by a slower request. A permanently deleted customer has no events here.',
        querystring: CustomerEventsQuery,
        response: { 200: CustomerEventList, ...errors(400, 401) },
      },
    },
    (request) => app.customers.listFeed(request.query),
  );
};

export default routes;
