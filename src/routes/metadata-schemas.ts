import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { errorResponses as errors } from '../schemas/common.js';
import {
  ClientMetadataSchema,
  ClientMetadataSchemaList,
  MetadataSchema,
  MetadataSchemaCreateBody,
  MetadataSchemaList,
  MetadataSchemaParams,
  MetadataSchemaResourceParams,
  MetadataSchemaUpdateBody,
  ProjectParams,
} from '../schemas/metadata-schema.js';

const tags = ['Metadata schemas'];

/** Voucherify's management API for metadata schemas, for this service's one project (PROJECT_ID). */
export const metadataSchemasManagement: FastifyPluginAsyncTypebox = async (app) => {
  const base = '/projects/:projectId/metadata-schemas';

  app.post(
    base,
    {
      schema: {
        tags,
        summary: 'Create the customer metadata schema',
        description:
          'Defines customers’ metadata keys: type (string, number, boolean, date, datetime, object; `array` for arrays of it), `optional`, lengths, allowed values (`eq`), bounds; `allow_defined_only` refuses other keys. Every write of a customer is checked against it. 409 if it exists.',
        params: ProjectParams,
        body: MetadataSchemaCreateBody,
        response: { 200: MetadataSchema, ...errors(400, 401, 404, 409, 413, 415) },
      },
    },
    (request) => app.metadataSchemas.create(request.params.projectId, request.body),
  );

  app.get(
    base,
    {
      schema: {
        tags,
        summary: 'List metadata schemas',
        description: 'The project’s metadata schemas: the customer one, once created.',
        params: ProjectParams,
        response: { 200: MetadataSchemaList, ...errors(401, 404) },
      },
    },
    (request) => app.metadataSchemas.list(request.params.projectId),
  );

  app.get(
    `${base}/:metadataSchemaId`,
    {
      schema: {
        tags,
        summary: 'Get a metadata schema',
        description: 'A metadata schema by id.',
        params: MetadataSchemaParams,
        response: { 200: MetadataSchema, ...errors(401, 404) },
      },
    },
    (request) => app.metadataSchemas.get(request.params.projectId, request.params.metadataSchemaId),
  );

  app.put(
    `${base}/:metadataSchemaId`,
    {
      schema: {
        tags,
        summary: 'Update a metadata schema',
        description:
          'Adds or replaces the definitions sent, each whole; the others stay. A key’s type cannot change. Customers stored before are not checked again: the rules apply to later writes.',
        params: MetadataSchemaParams,
        body: MetadataSchemaUpdateBody,
        response: { 200: MetadataSchema, ...errors(400, 401, 404, 413, 415) },
      },
    },
    (request) => app.metadataSchemas.update(request.params.projectId, request.params.metadataSchemaId, request.body),
  );

  app.delete(
    `${base}/:metadataSchemaId`,
    {
      schema: {
        tags,
        summary: 'Delete a metadata schema',
        description: 'Customers’ metadata is no longer checked.',
        params: MetadataSchemaParams,
        response: { 204: Type.Null({ description: 'Deleted.' }), ...errors(401, 404) },
      },
    },
    async (request, reply) => {
      await app.metadataSchemas.remove(request.params.projectId, request.params.metadataSchemaId);
      return reply.code(204).send(null);
    },
  );
};

/** Voucherify's client API for reading metadata schemas. */
export const metadataSchemasClient: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/metadata-schemas',
    {
      schema: {
        tags,
        summary: 'List metadata schemas',
        description: 'The metadata schemas, in the client API’s shape.',
        response: { 200: ClientMetadataSchemaList, ...errors(401) },
      },
    },
    () => app.metadataSchemas.clientList(),
  );

  app.get(
    '/metadata-schemas/:resource',
    {
      schema: {
        tags,
        summary: 'Get a metadata schema',
        description: 'The metadata schema of a resource: `customer`.',
        params: MetadataSchemaResourceParams,
        response: { 200: ClientMetadataSchema, ...errors(401, 404) },
      },
    },
    (request) => app.metadataSchemas.clientGet(request.params.resource),
  );
};
