import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { AsyncAction, AsyncActionIdParams, AsyncActionList, AsyncActionListQuery } from '../schemas/async-action.js';
import { errorResponses as errors } from '../schemas/common.js';

const tags = ['Async Actions'];

const routes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/async-actions/:asyncActionId',
    {
      schema: {
        tags,
        summary: 'Get an async action',
        description:
          'Status, progress and result of a bulk update, metadata update or CSV import: how many rows were applied, and each row that failed with its number and reason.',
        params: AsyncActionIdParams,
        response: { 200: AsyncAction, ...errors(401, 404) },
      },
    },
    (request) => app.asyncActions.get(request.params.asyncActionId),
  );

  app.get(
    '/async-actions',
    {
      schema: {
        tags,
        summary: 'List async actions',
        description: 'Newest first, without their results (get one action for its result).',
        querystring: AsyncActionListQuery,
        response: { 200: AsyncActionList, ...errors(400, 401) },
      },
    },
    (request) => app.asyncActions.list(request.query),
  );
};

export default routes;
