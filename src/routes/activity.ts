import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import {
  CustomerActivitiesList,
  CustomerActivitiesQuery,
  CustomerActivityList,
  CustomerActivityQuery,
  PermanentDeletion,
  PermanentDeletionBody,
} from '../schemas/activity.js';
import { errorResponses as errors } from '../schemas/common.js';
import { CustomerIdParams } from '../schemas/customer.js';

const tags = ['Customer activity'];

const routes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/customers/:customerId/activity',
    {
      schema: {
        tags,
        summary: "List a customer's activity",
        description:
          'Every create, update and delete of the customer, with a snapshot of it. Pages by `starting_after_id` (pass `more_starting_after`). A deleted customer is found by its id until permanently deleted.',
        params: CustomerIdParams,
        querystring: CustomerActivityQuery,
        response: { 200: CustomerActivityList, ...errors(400, 401, 404) },
      },
    },
    (request) => app.customers.listActivity(request.params.customerId, request.query),
  );

  app.get(
    '/customers/:customerId/activities',
    {
      schema: {
        tags,
        deprecated: true,
        summary: "List a customer's activities (deprecated)",
        description:
          'The older form of the activity list: pages by `starting_after` (created_at) or `starting_after_id`, and counts a `total`.',
        params: CustomerIdParams,
        querystring: CustomerActivitiesQuery,
        response: { 200: CustomerActivitiesList, ...errors(400, 401, 404) },
      },
    },
    (request) => app.customers.listActivities(request.params.customerId, request.query),
  );

  app.post(
    '/customers/:customerId/permanent-deletion',
    {
      schema: {
        tags,
        summary: 'Delete a customer permanently',
        description: 'Erases the customer (live or deleted) and all of its activity for good, and answers how much was deleted.',
        params: CustomerIdParams,
        body: PermanentDeletionBody,
        response: { 200: PermanentDeletion, ...errors(400, 401, 404, 413, 415) },
      },
      // The official SDK sends `{}`; a bodiless request means the same.
      preValidation: async (request) => {
        request.body ??= {};
      },
    },
    (request) => app.customers.erase(request.params.customerId),
  );
};

export default routes;
