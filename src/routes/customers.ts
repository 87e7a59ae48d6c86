import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import type { FastifyReply } from 'fastify';
import { etagOf, ifMatchVersions, noneMatchHits } from '../customers/etag.js';
import type { Customer as CustomerObject } from '../schemas/customer.js';
import { errorResponses as errors } from '../schemas/common.js';
import {
  Customer,
  CustomerCreateBody,
  CustomerIdParams,
  CustomerList,
  CustomerListQuery,
  CustomerUpdateBody,
} from '../schemas/customer.js';

const tags = ['Customers'];

/** A customer answer, with the ETag of the version it shows. */
function tagged(reply: FastifyReply, customer: CustomerObject): CustomerObject {
  reply.header('etag', etagOf(customer));
  return customer;
}

const PRECONDITIONS =
  ' With `If-Match` (ETags from GET, POST or PUT), applies only to that version of the customer: 412 when it changed since. `If-Match: *` applies to any existing customer.';

const routes: FastifyPluginAsyncTypebox = async (app) => {
  app.post(
    '/customers',
    {
      schema: {
        tags,
        summary: 'Create or upsert a customer',
        description:
          'Creates a customer. With `id`, updates that customer instead (404 if it does not exist); with the `source_id` of a live customer, updates that customer. Updates follow PUT semantics.',
        body: CustomerCreateBody,
        response: { 200: Customer, ...errors(400, 401, 404, 413, 415) },
      },
    },
    async (request, reply) => tagged(reply, await app.customers.create(request.body, request.id)),
  );

  app.get(
    '/customers',
    {
      schema: {
        tags,
        summary: 'List customers',
        description:
          'Pages through live customers by `page` or by the `starting_after` created_at cursor. `total` counts every customer matching the filters.',
        querystring: CustomerListQuery,
        response: { 200: CustomerList, ...errors(400, 401) },
      },
    },
    (request) => app.customers.list(request.query),
  );

  app.get(
    '/customers/:customerId',
    {
      schema: {
        tags,
        summary: 'Get a customer',
        description:
          'Finds a live customer by `id`, or else by `source_id`. Answers 304 without a body when `If-None-Match` names its current ETag.',
        params: CustomerIdParams,
        response: { 200: Customer, 304: Type.Null({ description: 'Not modified.' }), ...errors(401, 404) },
      },
    },
    async (request, reply) => {
      const customer = tagged(reply, await app.customers.get(request.params.customerId));
      if (noneMatchHits(request.headers['if-none-match'], etagOf(customer))) return reply.code(304).send(null);
      return customer;
    },
  );

  app.put(
    '/customers/:customerId',
    {
      schema: {
        tags,
        summary: 'Update a customer',
        description:
          'Partial update: absent fields stay, fields sent as null are cleared, address and metadata are replaced as a whole. Never creates a customer; `id` and `source_id` in the body are ignored.' +
          PRECONDITIONS,
        params: CustomerIdParams,
        body: CustomerUpdateBody,
        response: { 200: Customer, ...errors(400, 401, 404, 412, 413, 415) },
      },
    },
    async (request, reply) => {
      const ifMatch = ifMatchVersions(request.headers['if-match']);
      return tagged(reply, await app.customers.update(request.params.customerId, request.body, request.id, ifMatch));
    },
  );

  app.delete(
    '/customers/:customerId',
    {
      schema: {
        tags,
        summary: 'Delete a customer',
        description:
          'The customer disappears from every read and its `source_id` is freed. Its activity is kept until permanent deletion.' +
          PRECONDITIONS,
        params: CustomerIdParams,
        response: { 204: Type.Null({ description: 'Deleted.' }), ...errors(401, 404, 412) },
      },
    },
    async (request, reply) => {
      await app.customers.remove(request.params.customerId, request.id, ifMatchVersions(request.headers['if-match']));
      return reply.code(204).send(null);
    },
  );

  app.post(
    '/customers/:customerId/cockpit-link/revoke',
    {
      schema: {
        tags,
        summary: "Revoke a customer's cockpit links",
        description:
          "Every `assets.cockpit_url` of the customer handed out so far (in answers, activity, the event feed and webhooks) stops opening its page, before it expires; other customers' links are untouched. Answers the customer with its new link. Not a change of the customer: no event, and `updated_at` stays. To revoke every link at once, rotate `COCKPIT_SECRET` without keeping the old one.",
        params: CustomerIdParams,
        response: { 200: Customer, ...errors(401, 404) },
      },
    },
    async (request, reply) => tagged(reply, await app.customers.revokeCockpitLinks(request.params.customerId)),
  );
};

export default routes;
