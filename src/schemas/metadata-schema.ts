import { Type, type Static } from '@sinclair/typebox';
import { metadataTypes } from '../customers/metadata-rules.js';
import { Nullable, StringEnum } from './common.js';
import { MetadataKey } from './customer.js';

const Length = Type.Integer({ minimum: 0, maximum: 100_000 });

/** One metadata key's definition (ManagementProjectsMetadataSchemaDefinition). */
export const MetadataDefinition = Type.Object(
  {
    type: StringEnum(metadataTypes, { description: 'The value type; with `array`, the type of each element.' }),
    optional: Type.Boolean({ description: 'false: every customer must have the key.' }),
    array: Type.Boolean({ description: 'The value is an array of `type`.' }),
    deleted: Type.Optional(Type.Boolean({ description: 'A deleted definition no longer applies.' })),
    object_type: Type.Optional(Nullable(Type.String())),
    min_length: Type.Optional(Length),
    max_length: Type.Optional(Length),
    exact_length: Type.Optional(Length),
    eq: Type.Optional(
      Type.Array(Type.Union([Type.String(), Type.Number()]), { maxItems: 1000, description: 'The allowed values.' }),
    ),
    ne: Type.Optional(Type.Array(Type.Number(), { maxItems: 1000, description: 'Numbers not allowed.' })),
    lt: Type.Optional(Type.Number()),
    lte: Type.Optional(Type.Number()),
    gt: Type.Optional(Type.Number()),
    gte: Type.Optional(Type.Number()),
  },
  { additionalProperties: false },
);

const Definitions = Type.Record(Type.String(MetadataKey), MetadataDefinition, {
  maxProperties: 500,
  description: 'Definitions by metadata key.',
});

const definitionExample = { tier: { type: 'string', optional: true, array: false, eq: ['gold', 'silver'] } };

export const MetadataSchemaCreateBody = Type.Object(
  {
    related_object: Type.String({ minLength: 1, maxLength: 100, description: 'The resource: only `customer` here.' }),
    allow_defined_only: Type.Optional(Type.Boolean({ description: 'true: customers may have only the keys defined.' })),
    properties: Definitions,
  },
  {
    additionalProperties: false,
    title: 'ManagementProjectsMetadataSchemasCreateRequestBody',
    example: { related_object: 'customer', allow_defined_only: false, properties: definitionExample },
  },
);
export type MetadataSchemaCreateBody = Static<typeof MetadataSchemaCreateBody>;

export const MetadataSchemaUpdateBody = Type.Object(
  {
    allow_defined_only: Type.Optional(Type.Boolean()),
    properties: Type.Record(Type.String(MetadataKey), MetadataDefinition, {
      maxProperties: 500,
      description: 'The definitions to add or replace (each whole); a key not sent keeps its definition. A type cannot change.',
    }),
  },
  {
    additionalProperties: false,
    title: 'ManagementProjectsMetadataSchemasUpdateRequestBody',
    example: { properties: { score: { type: 'number', optional: true, array: false, gte: 0 } } },
  },
);
export type MetadataSchemaUpdateBody = Static<typeof MetadataSchemaUpdateBody>;

const schemaExample = {
  id: 'ms_f0r4hm3ta6a4a5ch3maA1b2c',
  related_object: 'customer',
  properties: definitionExample,
  allow_defined_only: false,
  created_at: '2021-12-03T13:33:44.556Z',
  updated_at: null,
  object: 'metadata_schema',
};

/** ManagementProjectsMetadataSchema. */
export const MetadataSchema = Type.Object(
  {
    id: Type.String(),
    related_object: Type.String(),
    properties: Type.Record(Type.String(), MetadataDefinition),
    allow_defined_only: Type.Boolean(),
    created_at: Type.String({ format: 'date-time' }),
    updated_at: Nullable(Type.String({ format: 'date-time' })),
    object: Type.Literal('metadata_schema'),
  },
  { title: 'ManagementProjectsMetadataSchema', example: schemaExample },
);
export type MetadataSchema = Static<typeof MetadataSchema>;

export const MetadataSchemaList = Type.Object(
  { object: Type.Literal('list'), data_ref: Type.Literal('data'), data: Type.Array(MetadataSchema), total: Type.Integer() },
  {
    title: 'ManagementProjectsMetadataSchemasListResponseBody',
    example: { object: 'list', data_ref: 'data', data: [schemaExample], total: 1 },
  },
);
export type MetadataSchemaList = Static<typeof MetadataSchemaList>;

export const ProjectParams = Type.Object({ projectId: Type.String({ description: 'The project: PROJECT_ID.' }) });
export const MetadataSchemaParams = Type.Object({
  projectId: Type.String({ description: 'The project: PROJECT_ID.' }),
  metadataSchemaId: Type.String({ description: 'A metadata schema id, `ms_…`.' }),
});

/** The client API's definition (MetadataSchemaDefinitionDeprecated): camelCase lengths and object type. */
const ClientDefinition = Type.Object(
  {
    type: StringEnum(metadataTypes),
    array: Type.Boolean(),
    optional: Type.Boolean(),
    objectType: Type.Optional(Nullable(Type.String())),
    eq: Type.Optional(Type.Array(Type.Union([Type.String(), Type.Number()]))),
    ne: Type.Optional(Type.Array(Type.Number())),
    lt: Type.Optional(Type.Number()),
    lte: Type.Optional(Type.Number()),
    gt: Type.Optional(Type.Number()),
    gte: Type.Optional(Type.Number()),
    deleted: Type.Optional(Type.Boolean()),
    maxLength: Type.Optional(Type.Integer()),
    minLength: Type.Optional(Type.Integer()),
    exactLength: Type.Optional(Type.Integer()),
  },
  { additionalProperties: false },
);

const clientExample = {
  ...schemaExample,
  properties: { tier: { type: 'string', array: false, optional: true, eq: ['gold', 'silver'] } },
};

/** MetadataSchemaDeprecated: what GET /v1/metadata-schemas answers. */
export const ClientMetadataSchema = Type.Object(
  { ...MetadataSchema.properties, properties: Type.Record(Type.String(), ClientDefinition) },
  { title: 'MetadataSchemasGetResponseBody', example: clientExample },
);
export type ClientMetadataSchema = Static<typeof ClientMetadataSchema>;

export const ClientMetadataSchemaList = Type.Object(
  {
    object: Type.Literal('list'),
    data_ref: Type.Literal('schemas'),
    schemas: Type.Array(ClientMetadataSchema),
    data: Type.Array(ClientMetadataSchema, {
      description: 'The same schemas again: the reference names `schemas` in data_ref but requires `data`.',
    }),
    total: Type.Integer(),
  },
  {
    title: 'MetadataSchemasListResponseBody',
    example: { object: 'list', data_ref: 'schemas', schemas: [clientExample], data: [clientExample], total: 1 },
  },
);
export type ClientMetadataSchemaList = Static<typeof ClientMetadataSchemaList>;

export const MetadataSchemaResourceParams = Type.Object({
  resource: Type.String({ description: 'The resource whose metadata schema to get: `customer`.' }),
});
