import { ApiError, notFound } from '../errors.js';
import { newMetadataSchemaId } from '../ids.js';
import type {
  ClientMetadataSchema,
  ClientMetadataSchemaList,
  MetadataSchema,
  MetadataSchemaCreateBody,
  MetadataSchemaList,
  MetadataSchemaUpdateBody,
} from '../schemas/metadata-schema.js';
import { timestamp } from '../timestamps.js';
import type { MetadataDefinition, MetadataSchemaRules } from './metadata-rules.js';
import type { MetadataSchemaRow, metadataSchemaStore } from './repository/metadata-schemas.js';

/** The one resource whose metadata this service keeps a schema of. */
export const CUSTOMER_OBJECT = 'customer';

/** How long a process trusts the customer schema it read: another process's change applies within this. */
const RULES_CACHE_MS = 1000;

export const rulesOf = (row: MetadataSchemaRow | undefined): MetadataSchemaRules | undefined =>
  row && { allowDefinedOnly: row.allow_defined_only, properties: row.properties };

/** Options that only some types take, and which. */
const TYPED_OPTIONS: Array<[keyof MetadataDefinition, ReadonlyArray<MetadataDefinition['type']>]> = [
  ['min_length', ['string']],
  ['max_length', ['string']],
  ['exact_length', ['string']],
  ['eq', ['string', 'number']],
  ['ne', ['number']],
  ['lt', ['number']],
  ['lte', ['number']],
  ['gt', ['number']],
  ['gte', ['number']],
];

/** A definition's options must fit its type: a length only for strings, bounds only for numbers. */
function checkDefinitions(properties: Record<string, MetadataDefinition>): void {
  for (const [key, definition] of Object.entries(properties)) {
    for (const [option, types] of TYPED_OPTIONS) {
      if (definition[option] !== undefined && !types.includes(definition.type)) {
        throw new ApiError(400, {
          details: `Property .properties.${key}.${option} is for ${types.join(' and ')} definitions only`,
        });
      }
    }
    const wrongValue = definition.eq?.find((value) => typeof value !== definition.type);
    if (wrongValue !== undefined) {
      throw new ApiError(400, { details: `Property .properties.${key}.eq must list ${definition.type} values only` });
    }
  }
}

const present = (row: MetadataSchemaRow): MetadataSchema => ({
  id: row.id,
  related_object: row.related_object,
  properties: row.properties,
  allow_defined_only: row.allow_defined_only,
  created_at: row.created_at,
  updated_at: row.updated_at,
  object: 'metadata_schema',
});

/** The client API's older shape of a definition. */
function presentForClient(row: MetadataSchemaRow): ClientMetadataSchema {
  const properties = Object.fromEntries(
    Object.entries(row.properties).map(([key, { min_length, max_length, exact_length, object_type, ...rest }]) => [
      key,
      {
        ...rest,
        ...(object_type !== undefined && { objectType: object_type }),
        ...(min_length !== undefined && { minLength: min_length }),
        ...(max_length !== undefined && { maxLength: max_length }),
        ...(exact_length !== undefined && { exactLength: exact_length }),
      },
    ]),
  );
  return { ...present(row), properties };
}

/**
 * Metadata schemas, managed at Voucherify's management API paths for one project, read by its
 * client API, and enforced on customers' metadata.
 */
export function createMetadataSchemaService(store: ReturnType<typeof metadataSchemaStore>, { projectId }: { projectId: string }) {
  let cached: { rules: MetadataSchemaRules | undefined; readAt: number } | undefined;

  function inProject(id: string): void {
    if (id !== projectId) throw notFound('project', id);
  }

  async function found(id: string): Promise<MetadataSchemaRow> {
    const row = await store.get(id);
    if (!row) throw notFound('metadata_schema', id);
    return row;
  }

  return {
    /** The customer metadata schema's rules, as this process last read them (at most a second ago). */
    async customerRules(): Promise<MetadataSchemaRules | undefined> {
      if (cached && Date.now() - cached.readAt < RULES_CACHE_MS) return cached.rules;
      const readAt = Date.now();
      cached = { rules: rulesOf(await store.forObject(CUSTOMER_OBJECT)), readAt };
      return cached.rules;
    },

    async create(project: string, body: MetadataSchemaCreateBody): Promise<MetadataSchema> {
      inProject(project);
      if (body.related_object !== CUSTOMER_OBJECT) {
        throw new ApiError(400, {
          details: `Property .related_object must be customer: this service keeps customers' metadata schema only`,
        });
      }
      checkDefinitions(body.properties);
      const stored = await store.insert({
        id: newMetadataSchemaId(),
        related_object: body.related_object,
        allow_defined_only: body.allow_defined_only ?? false,
        properties: body.properties,
        created_at: timestamp(),
        updated_at: null,
      });
      if (!stored) {
        const existing = await store.forObject(body.related_object);
        throw new ApiError(409, {
          key: 'duplicate_found',
          message: 'Duplicated resource found',
          details: `The ${body.related_object} metadata schema exists: update ${existing?.id ?? 'it'} instead`,
          resourceId: existing?.id,
          resourceType: 'metadata_schema',
        });
      }
      cached = undefined;
      return present(stored);
    },

    async get(project: string, id: string): Promise<MetadataSchema> {
      inProject(project);
      return present(await found(id));
    },

    async list(project: string): Promise<MetadataSchemaList> {
      inProject(project);
      const rows = await store.all();
      return { object: 'list', data_ref: 'data', data: rows.map(present), total: rows.length };
    },

    async update(project: string, id: string, body: MetadataSchemaUpdateBody): Promise<MetadataSchema> {
      inProject(project);
      checkDefinitions(body.properties);
      const stored = await store.update(id, (current) => {
        for (const [key, definition] of Object.entries(body.properties)) {
          const before = current.properties[key];
          if (before && before.deleted !== true && before.type !== definition.type) {
            throw new ApiError(400, {
              details: `Property .properties.${key}.type cannot change from ${before.type}: delete the definition and define the key anew`,
            });
          }
        }
        return {
          allow_defined_only: body.allow_defined_only ?? current.allow_defined_only,
          properties: { ...current.properties, ...body.properties },
          updated_at: timestamp(),
        };
      });
      if (!stored) throw notFound('metadata_schema', id);
      cached = undefined;
      return present(stored);
    },

    async remove(project: string, id: string): Promise<void> {
      inProject(project);
      if (!(await store.remove(id))) throw notFound('metadata_schema', id);
      cached = undefined;
    },

    /** GET /v1/metadata-schemas. */
    async clientList(): Promise<ClientMetadataSchemaList> {
      const schemas = (await store.all()).map(presentForClient);
      return { object: 'list', data_ref: 'schemas', schemas, data: schemas, total: schemas.length };
    },

    /** GET /v1/metadata-schemas/{resource}. */
    async clientGet(resource: string): Promise<ClientMetadataSchema> {
      const row = await store.forObject(resource);
      if (!row) throw notFound('metadata_schema', resource);
      return presentForClient(row);
    },
  };
}

export type MetadataSchemaService = ReturnType<typeof createMetadataSchemaService>;
