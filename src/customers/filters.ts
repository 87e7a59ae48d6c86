import qs from 'qs';
import { ApiError, invalidQuery } from '../errors.js';
import { isCalendarDate, parseIsoTimestamp } from '../timestamps.js';
import { declaredType, type MetadataSchemaRules, type MetadataType } from './metadata-rules.js';

/**
 * Voucherify's filter object over customers (`FiltersCondition` in the exports reference), read
 * into conditions the repository compiles to SQL (src/customers/repository/filters.ts). One
 * language for segments, the list's `filters` parameter and exports:
 *
 *   { "junction": "and", "email": { "conditions": { "$ends_with": ["@example.com"] } },
 *     "metadata.score": { "conditions": { "$more_than": [900] } },
 *     "filters": [ { "junction": "or", ... } ] }
 *
 * Every key but `junction` and `filters` names a field; its `conditions` map operators to
 * values, combined by the field's own `junction` (default and); the fields and the nested
 * `filters` groups are combined by the object's `junction` (default and). A value may be given
 * bare or as a one-element array, as Voucherify's own filters give it; `$in` and `$not_in` take
 * an array. Anything else is refused, naming the path, before any SQL is written.
 */

/** The limits that keep one filter cheap to check and to run. */
export const FILTER_LIMITS = {
  /** Nested `filters` groups below the top object. */
  depth: 5,
  /** Conditions (operator and value) in the whole filter. */
  conditions: 50,
  /** Values of one `$in` or `$not_in`. */
  values: 100,
  /** Characters of one string value. */
  valueLength: 1024,
  /** Keys of a metadata path (`metadata.a.b.c`): metadata nests 5 objects deep. */
  metadataPath: 6,
};

export type Junction = 'and' | 'or';

const ADDRESS_KEYS = ['line_1', 'line_2', 'city', 'state', 'country', 'postal_code'] as const;
const TEXT_COLUMNS = ['id', 'source_id', 'name', 'email', 'phone', 'description'] as const;
const TIME_COLUMNS = ['created_at', 'updated_at'] as const;
const DATE_COLUMNS = ['birthdate', 'birthday'] as const;

/** What a condition compares: a text column, a time, a date, an address key or a metadata path. */
export type FilterField =
  | { kind: 'text'; column: (typeof TEXT_COLUMNS)[number] }
  | { kind: 'time'; column: (typeof TIME_COLUMNS)[number] }
  | { kind: 'date'; column: (typeof DATE_COLUMNS)[number] }
  | { kind: 'address'; key: (typeof ADDRESS_KEYS)[number] }
  | {
      kind: 'metadata';
      path: string[];
      /** The metadata schema's definition of the key, which types its values and operators. */
      declared?: { type: MetadataType; array: boolean };
    };

/** A moment or a whole UTC day, as a time condition's value. */
export type TimeValue = { kind: 'instant'; iso: string } | { kind: 'day'; date: string };

/** A condition with its value checked and normalized for its field. */
export type FilterCondition =
  | { field: FilterField; operator: '$is' | '$is_not' | '$in' | '$not_in'; values: unknown[] }
  | { field: FilterField; operator: '$has_value' | '$is_unknown' }
  | { field: FilterField; operator: '$starts_with' | '$ends_with' | '$contains' | '$not_contain'; text: string }
  | { field: FilterField; operator: '$more_than' | '$less_than' | '$more_than_equal' | '$less_than_equal'; number: number }
  | { field: FilterField; operator: '$after' | '$before'; time: TimeValue }
  | {
      field: FilterField;
      operator:
        '$is_days_ago' | '$is_days_in_future' | '$more_than_ago' | '$less_than_ago' | '$more_than_future' | '$less_than_future';
      days: number;
    };

export type FilterOperator = FilterCondition['operator'];

/** A filter as the repository compiles it: conditions and nested groups under one junction. */
export interface FilterGroup {
  junction: Junction;
  parts: Array<FilterGroup | FilterCondition>;
}

const EQUALITY = ['$is', '$is_not', '$in', '$not_in'] as const;
const PRESENCE = ['$has_value', '$is_unknown'] as const;
const TEXT_MATCH = ['$starts_with', '$ends_with', '$contains', '$not_contain'] as const;
const NUMBER_COMPARISON = ['$more_than', '$less_than', '$more_than_equal', '$less_than_equal'] as const;
const TIME_COMPARISON = ['$after', '$before'] as const;
const RELATIVE_DAYS = [
  '$is_days_ago',
  '$is_days_in_future',
  '$more_than_ago',
  '$less_than_ago',
  '$more_than_future',
  '$less_than_future',
] as const;

/** The operators a metadata key declared in the metadata schema takes, by its type; an array's, equality (contains) and presence. */
const DECLARED_OPERATORS: Record<MetadataType | 'array', readonly FilterOperator[]> = {
  string: [...EQUALITY, ...PRESENCE, ...TEXT_MATCH],
  number: [...EQUALITY, ...PRESENCE, ...NUMBER_COMPARISON],
  boolean: [...EQUALITY, ...PRESENCE],
  date: [...EQUALITY, ...PRESENCE, ...TIME_COMPARISON],
  datetime: [...EQUALITY, ...PRESENCE, ...TIME_COMPARISON],
  object: PRESENCE,
  array: [...EQUALITY, ...PRESENCE],
};

const operatorsOf = (field: FilterField): readonly FilterOperator[] =>
  field.kind === 'metadata' && field.declared
    ? DECLARED_OPERATORS[field.declared.array ? 'array' : field.declared.type]
    : OPERATORS[field.kind];

/** The operators each kind of field takes. */
const OPERATORS: Record<FilterField['kind'], readonly FilterOperator[]> = {
  text: [...EQUALITY, ...PRESENCE, ...TEXT_MATCH],
  address: [...EQUALITY, ...PRESENCE, ...TEXT_MATCH],
  time: [...EQUALITY, ...PRESENCE, ...TIME_COMPARISON, ...RELATIVE_DAYS],
  date: [...EQUALITY, ...PRESENCE, ...TIME_COMPARISON],
  metadata: [...EQUALITY, ...PRESENCE, ...TEXT_MATCH, ...NUMBER_COMPARISON, ...TIME_COMPARISON],
};

/**
 * Where a filter came from: a JSON body, JSON in a query parameter (both with typed values), or
 * a query string in bracket notation (every value a string, arrays as objects of indexes).
 */
export type FilterSource = 'body' | 'query-json' | 'query';

class FilterReader {
  private conditions = 0;
  /** Values arrive as strings only. */
  private readonly strings: boolean;

  constructor(
    private readonly source: FilterSource,
    private readonly rules: MetadataSchemaRules | undefined,
  ) {
    this.strings = source === 'query';
  }

  fail(path: string, problem: string): never {
    const details = `${path} ${problem}`;
    throw this.source === 'body' ? new ApiError(400, { details }) : invalidQuery(details);
  }

  group(input: unknown, path: string, depth: number): FilterGroup {
    if (!isPlainObject(input)) this.fail(path, 'must be an object');
    if (depth > FILTER_LIMITS.depth) this.fail(path, `nests filters more than ${FILTER_LIMITS.depth} levels deep`);
    const parts: FilterGroup['parts'] = [];
    for (const [key, value] of Object.entries(input)) {
      if (key === 'junction') continue;
      if (key === 'filters') {
        const groups = this.strings && isPlainObject(value) ? Object.values(value) : value;
        if (!Array.isArray(groups) || groups.length === 0) this.fail(`${path}.filters`, 'must be a non-empty array of filters');
        groups.forEach((group, index) => parts.push(this.group(group, `${path}.filters[${index}]`, depth + 1)));
        continue;
      }
      parts.push(...this.fieldConditions(key, value, `${path}.${key}`));
    }
    if (parts.length === 0) this.fail(path, 'must have at least one condition');
    return { junction: this.junction(input.junction, `${path}.junction`), parts };
  }

  private junction(value: unknown, path: string): Junction {
    if (value === undefined) return 'and';
    const junction = typeof value === 'string' ? value.toLowerCase() : value;
    if (junction !== 'and' && junction !== 'or') this.fail(path, 'must be and or or');
    return junction;
  }

  private fieldConditions(key: string, input: unknown, path: string): FilterGroup[] {
    const field = this.field(key, path);
    if (!isPlainObject(input)) this.fail(path, 'must be an object with conditions');
    const { conditions, junction, ...rest } = input;
    const extra = Object.keys(rest)[0];
    if (extra !== undefined) this.fail(`${path}.${extra}`, 'is not allowed: a field takes conditions and junction');
    if (!isPlainObject(conditions) || Object.keys(conditions).length === 0) {
      this.fail(`${path}.conditions`, 'must be an object of at least one operator');
    }
    const parts = Object.entries(conditions).map(([operator, value]) =>
      this.condition(field, operator, value, `${path}.conditions.${operator}`),
    );
    return [{ junction: this.junction(junction, `${path}.junction`), parts }];
  }

  private field(key: string, path: string): FilterField {
    if (includes(TEXT_COLUMNS, key)) return { kind: 'text', column: key };
    if (includes(TIME_COLUMNS, key)) return { kind: 'time', column: key };
    if (includes(DATE_COLUMNS, key)) return { kind: 'date', column: key };
    // Voucherify's customer filters name the city on its own too.
    if (key === 'city') return { kind: 'address', key: 'city' };
    if (key.startsWith('address.')) {
      const addressKey = key.slice('address.'.length);
      if (includes(ADDRESS_KEYS, addressKey)) return { kind: 'address', key: addressKey };
      this.fail(path, `is not a field: address has ${ADDRESS_KEYS.join(', ')}`);
    }
    if (key.startsWith('metadata.')) {
      const metadataPath = key.slice('metadata.'.length).split('.');
      if (metadataPath.some((part) => part.length === 0)) this.fail(path, 'names an empty metadata key');
      if (metadataPath.length > FILTER_LIMITS.metadataPath) {
        this.fail(path, `is deeper than metadata nests (${FILTER_LIMITS.metadataPath} keys)`);
      }
      const definition = metadataPath.length === 1 ? declaredType(this.rules, metadataPath[0]!) : undefined;
      return {
        kind: 'metadata',
        path: metadataPath,
        ...(definition && { declared: { type: definition.type, array: definition.array } }),
      };
    }
    this.fail(
      path,
      `is not a field to filter by: use ${[...TEXT_COLUMNS, ...TIME_COLUMNS, ...DATE_COLUMNS].join(', ')}, city, address.<key> or metadata.<key>`,
    );
  }

  private condition(field: FilterField, operator: string, input: unknown, path: string): FilterCondition {
    this.conditions += 1;
    if (this.conditions > FILTER_LIMITS.conditions)
      this.fail(path, `is one condition too many: at most ${FILTER_LIMITS.conditions}`);
    const allowed = operatorsOf(field);
    if (!includes(allowed, operator)) this.fail(path, `is not an operator for this field: use ${allowed.join(', ')}`);
    if (includes(PRESENCE, operator)) return { field, operator };
    if (operator === '$in' || operator === '$not_in') {
      const values = this.strings && isPlainObject(input) ? Object.values(input) : input;
      if (!Array.isArray(values) || values.length === 0 || values.length > FILTER_LIMITS.values) {
        this.fail(path, `must be an array of 1 to ${FILTER_LIMITS.values} values`);
      }
      return {
        field,
        operator,
        values: values.flatMap((value, index) => this.equalityValues(field, value, `${path}[${index}]`)),
      };
    }
    const value = this.single(input, path);
    if (operator === '$is' || operator === '$is_not') return { field, operator, values: this.equalityValues(field, value, path) };
    if (includes(TEXT_MATCH, operator)) return { field, operator, text: this.text(value, path) };
    if (includes(NUMBER_COMPARISON, operator)) return { field, operator, number: this.number(value, path) };
    if (includes(TIME_COMPARISON, operator)) return { field, operator, time: this.time(field, value, path) };
    return { field, operator: operator as (typeof RELATIVE_DAYS)[number], days: this.days(value, path) };
  }

  /** A bare value, or the one element of an array. */
  private single(input: unknown, path: string): unknown {
    if (!Array.isArray(input)) return input;
    if (input.length !== 1) this.fail(path, 'must be one value');
    return input[0];
  }

  private text(value: unknown, path: string): string {
    if (typeof value !== 'string' || value.length === 0 || value.length > FILTER_LIMITS.valueLength) {
      this.fail(path, `must be a string of 1 to ${FILTER_LIMITS.valueLength} characters`);
    }
    return value;
  }

  private number(value: unknown, path: string): number {
    const number = this.strings && typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
    if (typeof number !== 'number' || !Number.isFinite(number)) this.fail(path, 'must be a number');
    return number;
  }

  private days(value: unknown, path: string): number {
    const days = this.number(value, path);
    if (!Number.isInteger(days) || days < 0 || days > 36_500) this.fail(path, 'must be a whole number of days, 0 to 36500');
    return days;
  }

  /** A value of a key the metadata schema declares: of its type, whatever the notation. */
  private declaredValue(type: MetadataType, field: FilterField, value: unknown, path: string): unknown {
    switch (type) {
      case 'number':
        return this.number(value, path);
      case 'boolean': {
        const literal = this.strings && typeof value === 'string' ? QUERY_LITERALS.get(value) : value;
        if (typeof literal !== 'boolean') this.fail(path, 'must be true or false (the metadata schema declares a boolean)');
        return literal;
      }
      case 'date':
      case 'datetime':
        return this.time(field, value, path);
      default:
        return this.text(value, path);
    }
  }

  private time(field: FilterField, value: unknown, path: string): TimeValue {
    if (typeof value === 'string' && isCalendarDate(value)) return { kind: 'day', date: value };
    if (field.kind !== 'date' && typeof value === 'string') {
      const instant = parseIsoTimestamp(value);
      if (instant) return { kind: 'instant', iso: instant.toISOString() };
    }
    this.fail(path, field.kind === 'date' ? 'must be a date, YYYY-MM-DD' : 'must be an ISO 8601 date-time or a date');
  }

  /**
   * The values an equality accepts for one given value. Metadata compares JSON values, so a
   * body's `900` and `"900"` differ; a query string has strings only, so there `900` stands for
   * either, and `true`, `false` and `null` for the string or the JSON literal.
   */
  private equalityValues(field: FilterField, value: unknown, path: string): unknown[] {
    if (field.kind === 'time' || field.kind === 'date') return [this.time(field, value, path)];
    if (field.kind === 'metadata' && field.declared) return [this.declaredValue(field.declared.type, field, value, path)];
    if (field.kind !== 'metadata' || typeof value === 'string') {
      const text = this.text(value, path);
      if (field.kind !== 'metadata' || !this.strings) return [text];
      const literal = QUERY_LITERALS.get(text) ?? (JSON_NUMBER.test(text) ? Number(text) : undefined);
      return literal === undefined ? [text] : [text, literal];
    }
    if (typeof value === 'number' || typeof value === 'boolean' || value === null) return [value];
    this.fail(path, 'must be a string, number, boolean or null');
  }
}

/** What a query string's value may also mean in metadata. */
const QUERY_LITERALS = new Map<string, unknown>([
  ['true', true],
  ['false', false],
  ['null', null],
]);
const JSON_NUMBER = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/;

const isPlainObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const includes = <T extends string>(list: readonly T[], value: string): value is T => (list as readonly string[]).includes(value);

/**
 * Reads a filter object, or answers 400 naming what is wrong with it at `path`. With the
 * metadata schema's rules, a declared metadata key takes the operators and values of its type.
 */
export const readCustomerFilter = (
  input: unknown,
  path: string,
  source: FilterSource,
  rules?: MetadataSchemaRules,
): FilterGroup => new FilterReader(source, rules).group(input, path, 0);

/**
 * A stored filter (a segment's, an export's), read with the metadata schema in force now, which
 * types the keys it declares. The filter was checked when it was stored: if the schema has
 * changed since so that it no longer fits, it is read untyped, as it was then without a schema.
 */
export function readStoredFilter(filter: unknown, rules: MetadataSchemaRules | undefined): FilterGroup {
  try {
    return readCustomerFilter(filter, 'filter', 'body', rules);
  } catch {
    return readCustomerFilter(filter, 'filter', 'body');
  }
}

/**
 * The list's `filters` parameter: JSON, or Voucherify's bracket notation, which the official
 * SDKs send (`filters[email][conditions][$is]=…`); none when neither is given.
 */
export function listFilter(query: Record<string, unknown>, rules: MetadataSchemaRules | undefined): FilterGroup | undefined {
  const bracketed = Object.entries(query).filter(([key]) => key.startsWith('filters['));
  if (query.filters !== undefined && bracketed.length > 0) {
    throw invalidQuery('Property .filters is given twice: as JSON and in bracket notation');
  }
  if (typeof query.filters === 'string') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(query.filters);
    } catch {
      throw invalidQuery(
        'Property .filters must be a JSON object, or given in bracket notation (filters[email][conditions][$is]=…)',
      );
    }
    return readCustomerFilter(parsed, 'Property .filters', 'query-json', rules);
  }
  if (bracketed.length === 0) return undefined;
  // Deep enough for the nesting the language allows; deeper brackets stay one literal key, which the reader refuses.
  const { filters } = qs.parse(Object.fromEntries(bracketed) as Record<string, string>, {
    depth: 4 * (FILTER_LIMITS.depth + 2),
    arrayLimit: FILTER_LIMITS.values,
    parameterLimit: 1000,
  });
  return readCustomerFilter(filters, 'Property .filters', 'query', rules);
}
