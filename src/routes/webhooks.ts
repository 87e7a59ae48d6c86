import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { errorResponses as errors } from '../schemas/common.js';
import {
  Webhook,
  WebhookCreateBody,
  WebhookDeliveriesQuery,
  WebhookDeliveryList,
  WebhookIdParams,
  WebhookList,
  WebhookReplayBody,
  WebhookUpdateBody,
  WebhookWithSecret,
} from '../schemas/webhook.js';

const tags = ['Webhooks'];

const routes: FastifyPluginAsyncTypebox = async (app) => {
  app.post(
    '/webhooks',
    {
      schema: {
        tags,
        summary: 'Create a webhook endpoint',
        description:
          'Every customer event of the types asked for (all by default) committed from now on is POSTed to `url`, signed per Standard Webhooks with the `secret` answered here (and only here, and by rotate-secret).',
        body: WebhookCreateBody,
        response: { 200: WebhookWithSecret, ...errors(400, 401, 413, 415) },
      },
    },
    (request) => app.webhooks.create(request.body),
  );

  app.get(
    '/webhooks',
    {
      schema: {
        tags,
        summary: 'List webhook endpoints',
        description: 'Every endpoint, oldest first, without its secret.',
        response: { 200: WebhookList, ...errors(401) },
      },
    },
    () => app.webhooks.list(),
  );

  app.get(
    '/webhooks/:webhookId',
    {
      schema: {
        tags,
        summary: 'Get a webhook endpoint',
        description: 'The endpoint, without its secret.',
        params: WebhookIdParams,
        response: { 200: Webhook, ...errors(400, 401, 404) },
      },
    },
    (request) => app.webhooks.get(request.params.webhookId),
  );

  app.put(
    '/webhooks/:webhookId',
    {
      schema: {
        tags,
        summary: 'Update a webhook endpoint',
        description:
          'The fields sent change, the others stay. Enabling a disabled endpoint resumes its deliveries where they stopped.',
        params: WebhookIdParams,
        body: WebhookUpdateBody,
        response: { 200: Webhook, ...errors(400, 401, 404, 413, 415) },
      },
    },
    (request) => app.webhooks.update(request.params.webhookId, request.body),
  );

  app.delete(
    '/webhooks/:webhookId',
    {
      schema: {
        tags,
        summary: 'Delete a webhook endpoint',
        description: 'With its undelivered events and its delivery log.',
        params: WebhookIdParams,
        response: { 204: { type: 'null', description: 'Deleted.' }, ...errors(400, 401, 404) },
      },
    },
    async (request, reply) => {
      await app.webhooks.remove(request.params.webhookId);
      return reply.code(204).send();
    },
  );

  app.post(
    '/webhooks/:webhookId/rotate-secret',
    {
      schema: {
        tags,
        summary: "Rotate a webhook endpoint's secret",
        description: 'Deliveries from now on are signed with the new secret, answered here once.',
        params: WebhookIdParams,
        response: { 200: WebhookWithSecret, ...errors(400, 401, 404) },
      },
    },
    (request) => app.webhooks.rotateSecret(request.params.webhookId),
  );

  app.get(
    '/webhooks/:webhookId/deliveries',
    {
      schema: {
        tags,
        summary: "List a webhook endpoint's delivery attempts",
        description: 'Newest first: the event, the attempt number, the status answered or the error, the duration and the time.',
        params: WebhookIdParams,
        querystring: WebhookDeliveriesQuery,
        response: { 200: WebhookDeliveryList, ...errors(400, 401, 404) },
      },
    },
    (request) => app.webhooks.deliveries(request.params.webhookId, request.query),
  );

  app.post(
    '/webhooks/:webhookId/replay',
    {
      schema: {
        tags,
        summary: 'Deliver events again',
        description:
          'Every event of the feed after `starting_after` (of the types the endpoint takes) is delivered again, in order.',
        params: WebhookIdParams,
        body: WebhookReplayBody,
        response: { 202: Webhook, ...errors(400, 401, 404, 413, 415) },
      },
    },
    async (request, reply) => {
      reply.code(202);
      return app.webhooks.replay(request.params.webhookId, request.body.starting_after);
    },
  );
};

export default routes;
