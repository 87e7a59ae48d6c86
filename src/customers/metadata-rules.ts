import { isCalendarDate, isIsoTimestamp } from '../timestamps.js';

/**
 * The rules a metadata schema (Voucherify's management API) sets on customers' metadata, and
 * the one check every write path applies: single creates and updates (400), and each row of
 * bulk updates, metadata updates and CSV imports (a failed row).
 */

export const metadataTypes = ['string', 'number', 'boolean', 'date', 'datetime', 'object'] as const;
export type MetadataType = (typeof metadataTypes)[number];

/** One key's definition, as the management API takes and answers it. */
export interface MetadataDefinition {
  type: MetadataType;
  optional: boolean;
  array: boolean;
  deleted?: boolean;
  object_type?: string | null;
  min_length?: number;
  max_length?: number;
  exact_length?: number;
  eq?: Array<string | number>;
  ne?: number[];
  lt?: number;
  lte?: number;
  gt?: number;
  gte?: number;
}

export interface MetadataSchemaRules {
  allowDefinedOnly: boolean;
  properties: Record<string, MetadataDefinition>;
}

const TYPE_CHECKS: Record<MetadataType, (value: unknown) => boolean> = {
  string: (value) => typeof value === 'string',
  number: (value) => typeof value === 'number',
  boolean: (value) => typeof value === 'boolean',
  date: (value) => typeof value === 'string' && isCalendarDate(value),
  datetime: (value) => typeof value === 'string' && isIsoTimestamp(value),
  object: (value) => typeof value === 'object' && value !== null && !Array.isArray(value),
};

const TYPE_NAMES: Record<MetadataType, string> = {
  string: 'a string',
  number: 'a number',
  boolean: 'a boolean',
  date: 'a date (YYYY-MM-DD)',
  datetime: 'an ISO 8601 date-time',
  object: 'an object',
};

/** Why one value breaks its definition, if it does. */
function valueProblem(definition: MetadataDefinition, value: unknown): string | undefined {
  if (!TYPE_CHECKS[definition.type](value)) return `must be ${TYPE_NAMES[definition.type]}`;
  if (typeof value === 'string') {
    if (definition.exact_length !== undefined && value.length !== definition.exact_length) {
      return `must have exactly ${definition.exact_length} characters`;
    }
    if (definition.min_length !== undefined && value.length < definition.min_length) {
      return `must have at least ${definition.min_length} characters`;
    }
    if (definition.max_length !== undefined && value.length > definition.max_length) {
      return `must have at most ${definition.max_length} characters`;
    }
  }
  if (definition.eq !== undefined && definition.eq.length > 0 && !definition.eq.includes(value as string | number)) {
    return `must be one of: ${definition.eq.join(', ')}`;
  }
  if (typeof value === 'number') {
    if (definition.ne?.includes(value)) return `must not be ${value}`;
    if (definition.lt !== undefined && !(value < definition.lt)) return `must be less than ${definition.lt}`;
    if (definition.lte !== undefined && !(value <= definition.lte)) return `must be at most ${definition.lte}`;
    if (definition.gt !== undefined && !(value > definition.gt)) return `must be more than ${definition.gt}`;
    if (definition.gte !== undefined && !(value >= definition.gte)) return `must be at least ${definition.gte}`;
  }
  return undefined;
}

/** The definitions in force: a deleted one no longer applies. */
const liveDefinitions = (rules: MetadataSchemaRules) =>
  Object.entries(rules.properties).filter(([, definition]) => definition.deleted !== true);

/**
 * Why `metadata`, a customer's whole metadata as a write leaves it (created, replaced or
 * merged), breaks the customer metadata schema, naming the key and the rule; or undefined.
 */
export function metadataSchemaProblem(
  rules: MetadataSchemaRules | undefined,
  metadata: Record<string, unknown>,
  subject = 'Property .metadata',
): string | undefined {
  if (!rules) return undefined;
  const definitions = new Map(liveDefinitions(rules));
  for (const [key, value] of Object.entries(metadata)) {
    const definition = definitions.get(key);
    if (!definition) {
      if (rules.allowDefinedOnly)
        return `${subject}.${key} is not defined in the customer metadata schema, which allows defined keys only`;
      continue;
    }
    if (value === null) {
      if (!definition.optional) return `${subject}.${key} is required by the customer metadata schema`;
      continue;
    }
    if (definition.array) {
      if (!Array.isArray(value)) return `${subject}.${key} must be an array (customer metadata schema)`;
      for (const [index, item] of value.entries()) {
        const problem = valueProblem(definition, item);
        if (problem) return `${subject}.${key}[${index}] ${problem} (customer metadata schema)`;
      }
      continue;
    }
    const problem = valueProblem(definition, value);
    if (problem) return `${subject}.${key} ${problem} (customer metadata schema)`;
  }
  for (const [key, definition] of definitions) {
    if (!definition.optional && !(key in metadata)) return `${subject}.${key} is required by the customer metadata schema`;
  }
  return undefined;
}

/** The declared type of a top-level metadata key, for filters that compare by it. */
export const declaredType = (rules: MetadataSchemaRules | undefined, key: string): MetadataDefinition | undefined => {
  const definition = rules?.properties[key];
  return definition && definition.deleted !== true ? definition : undefined;
};
