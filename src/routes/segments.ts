import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { errorResponses as errors } from '../schemas/common.js';
import { CustomerIdParams } from '../schemas/customer.js';
import {
  CustomerSegmentList,
  Segment,
  SegmentCreateBody,
  SegmentIdParams,
  SegmentList,
  SegmentListQuery,
} from '../schemas/segment.js';

const tags = ['Segments'];

const routes: FastifyPluginAsyncTypebox = async (app) => {
  app.post(
    '/segments',
    {
      schema: {
        tags,
        summary: 'Create a segment',
        description:
          '`static`: the customers listed in `customers` (ids or source_ids of live customers, at most 20,000). `auto-update`: every live customer its `filter` matches, evaluated at every read, so a read right after a write sees the change.',
        body: SegmentCreateBody,
        response: { 200: Segment, ...errors(400, 401, 413, 415) },
      },
    },
    (request) => app.segments.create(request.body),
  );

  app.get(
    '/segments',
    {
      schema: {
        tags,
        summary: 'List segments',
        description: 'Newest first, by pages of `limit`.',
        querystring: SegmentListQuery,
        response: { 200: SegmentList, ...errors(400, 401) },
      },
    },
    (request) => app.segments.list(request.query),
  );

  app.get(
    '/segments/:segmentId',
    {
      schema: {
        tags,
        summary: 'Get a segment',
        description: 'A segment as created: its type, and the filter of an auto-update segment.',
        params: SegmentIdParams,
        response: { 200: Segment, ...errors(401, 404) },
      },
    },
    (request) => app.segments.get(request.params.segmentId),
  );

  app.delete(
    '/segments/:segmentId',
    {
      schema: {
        tags,
        summary: 'Delete a segment',
        description: 'The customers stay; `segment_id` of a deleted segment answers 404.',
        params: SegmentIdParams,
        response: { 204: Type.Null({ description: 'Deleted.' }), ...errors(401, 404) },
      },
    },
    async (request, reply) => {
      await app.segments.remove(request.params.segmentId);
      return reply.code(204).send(null);
    },
  );

  app.get(
    '/customers/:customerId/segments',
    {
      schema: {
        tags: ['Customers', ...tags],
        summary: "List a customer's segments",
        description: 'The segments a live customer is in now: the static ones that list it and the auto-update ones it matches.',
        params: CustomerIdParams,
        response: { 200: CustomerSegmentList, ...errors(401, 404) },
      },
    },
    (request) => app.segments.ofCustomer(request.params.customerId),
  );
};

export default routes;
