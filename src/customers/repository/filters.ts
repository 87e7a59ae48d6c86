import { sql, type RawBuilder, type SqlBool } from 'kysely';
import type { FilterCondition, FilterField, FilterGroup, TimeValue } from '../filters.js';
import { customerColumn } from './columns.js';
import type { CustomerMatch, CustomerSet } from './customers.js';
import { builder } from './statements.js';

/**
 * Compiles a filter (src/customers/filters.ts reads and checks it) to one SQL condition on the
 * customers table. Every value, metadata path and address key is a parameter: the only text
 * written into the SQL is the compiler's own. A condition on a missing value is false, so its
 * negation (`$is_not`, `$not_in`, `$not_contain`) holds for customers without the value.
 */

type Condition = RawBuilder<SqlBool>;

const TRUE = sql<SqlBool>`true`;
const FALSE = sql<SqlBool>`false`;

const metadata = customerColumn('metadata');

/** The field as text: a column, an address key, or a metadata value (a string as itself, any other value as JSON). */
function text(field: FilterField): RawBuilder<string | null> {
  switch (field.kind) {
    case 'text':
      return sql`${customerColumn(field.column)}`;
    case 'address':
      return sql`(${customerColumn('address')} ->> ${field.key}::text)`;
    case 'metadata':
      return sql`(${metadata} #>> ${field.path}::text[])`;
    default:
      throw new Error(`no text of a ${field.kind} field`);
  }
}

/** A time or date field's column. */
function moment(field: FilterField): RawBuilder<Date | null> {
  if (field.kind === 'time' || field.kind === 'date') return sql`${customerColumn(field.column)}`;
  if (field.kind === 'metadata') return sql`customer_filter_timestamptz(${text(field)})`;
  throw new Error(`no time of a ${field.kind} field`);
}

/** A metadata value holding `value` at the field's path, as a jsonb containment (served by the metadata GIN index). */
function containing(path: readonly string[], value: unknown): Condition {
  const document = path.reduceRight<unknown>((inner, key) => ({ [key]: inner }), value);
  return sql`(${metadata} @> ${JSON.stringify(document)}::jsonb)`;
}

const startOfDay = (date: string) => sql<Date>`(${date}::date::timestamp AT TIME ZONE 'UTC')`;

/** A time field equal to a moment (to the millisecond) or within a UTC day. */
function atTime(field: FilterField, value: TimeValue): Condition {
  const column = moment(field);
  if (field.kind === 'date') return sql`(${column} = ${(value as { date: string }).date}::date)`;
  if (value.kind === 'instant') return sql`(${column} = ${value.iso}::timestamptz)`;
  return sql`(${column} >= ${startOfDay(value.date)} AND ${column} < ${startOfDay(value.date)} + interval '1 day')`;
}

/** Whether the field equals one of the values; false, never unknown, for a field without a value. */
function equalsAny(field: FilterField, values: unknown[]): Condition {
  const declared = field.kind === 'metadata' ? field.declared : undefined;
  if (field.kind === 'metadata' && !(declared?.type === 'date' || declared?.type === 'datetime')) {
    // A declared array holds the value among its elements.
    return any(values.map((value) => containing(field.path, declared?.array ? [value] : value)));
  }
  if (field.kind !== 'text' && field.kind !== 'address') {
    return sql`coalesce(${any(values.map((value) => atTime(field, value as TimeValue)))}, false)`;
  }
  return sql`coalesce(${text(field)} = ANY(${values}::text[]), false)`;
}

function present(field: FilterField): Condition {
  if (field.kind === 'metadata') return sql`coalesce(jsonb_typeof(${metadata} #> ${field.path}::text[]), 'null') <> 'null'`;
  if (field.kind === 'time' || field.kind === 'date') return sql`(${moment(field)} IS NOT NULL)`;
  return sql`(${text(field)} IS NOT NULL)`;
}

/** After a moment, or after a whole day; before a moment, or before a day begins. */
function comparedInTime(field: FilterField, operator: '$after' | '$before', value: TimeValue): Condition {
  const column = moment(field);
  if (field.kind === 'date') {
    const date = (value as { date: string }).date;
    return operator === '$after' ? sql`(${column} > ${date}::date)` : sql`(${column} < ${date}::date)`;
  }
  if (value.kind === 'instant') {
    return operator === '$after' ? sql`(${column} > ${value.iso}::timestamptz)` : sql`(${column} < ${value.iso}::timestamptz)`;
  }
  return operator === '$after'
    ? sql`(${column} >= ${startOfDay(value.date)} + interval '1 day')`
    : sql`(${column} < ${startOfDay(value.date)})`;
}

const NUMBER_COMPARATORS = { $more_than: '>', $less_than: '<', $more_than_equal: '>=', $less_than_equal: '<=' } as const;

function comparedAsNumber(field: FilterField, operator: keyof typeof NUMBER_COMPARATORS, number: number): Condition {
  if (field.kind !== 'metadata') throw new Error(`no number of a ${field.kind} field`);
  const value = sql`(${metadata} #> ${field.path}::text[])`;
  const asNumber = sql`CASE WHEN jsonb_typeof(${value}) = 'number' THEN (${value})::numeric END`;
  return sql`coalesce(${asNumber} ${sql.raw(NUMBER_COMPARATORS[operator])} ${String(number)}::numeric, false)`;
}

/** Days relative to now: whole UTC days for `$is_days_…`, from this moment for the others. */
function relativeDays(
  field: FilterField,
  operator: Extract<FilterCondition, { days: number }>['operator'],
  days: number,
): Condition {
  const column = moment(field);
  const today = sql`(date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC')`;
  const span = (count: number) => sql`make_interval(days => ${count}::int)`;
  switch (operator) {
    case '$is_days_ago':
      return sql`(${column} >= ${today} - ${span(days)} AND ${column} < ${today} - ${span(days)} + interval '1 day')`;
    case '$is_days_in_future':
      return sql`(${column} >= ${today} + ${span(days)} AND ${column} < ${today} + ${span(days)} + interval '1 day')`;
    case '$more_than_ago':
      return sql`(${column} < now() - ${span(days)})`;
    case '$less_than_ago':
      return sql`(${column} >= now() - ${span(days)} AND ${column} <= now())`;
    case '$more_than_future':
      return sql`(${column} > now() + ${span(days)})`;
    case '$less_than_future':
      return sql`(${column} > now() AND ${column} <= now() + ${span(days)})`;
  }
}

function condition(filter: FilterCondition): Condition {
  const { field } = filter;
  switch (filter.operator) {
    case '$is':
    case '$in':
      return equalsAny(field, filter.values);
    case '$is_not':
    case '$not_in':
      return sql`NOT ${equalsAny(field, filter.values)}`;
    case '$has_value':
      return present(field);
    case '$is_unknown':
      return sql`NOT ${present(field)}`;
    case '$starts_with':
      return sql`coalesce(left(${text(field)}, ${filter.text.length}::int) = ${filter.text}::text, false)`;
    case '$ends_with':
      return sql`coalesce(right(${text(field)}, ${filter.text.length}::int) = ${filter.text}::text, false)`;
    case '$contains':
      return sql`coalesce(strpos(${text(field)}, ${filter.text}::text) > 0, false)`;
    case '$not_contain':
      return sql`NOT coalesce(strpos(${text(field)}, ${filter.text}::text) > 0, false)`;
    case '$more_than':
    case '$less_than':
    case '$more_than_equal':
    case '$less_than_equal':
      return comparedAsNumber(field, filter.operator, filter.number);
    case '$after':
    case '$before':
      return sql`coalesce(${comparedInTime(field, filter.operator, filter.time)}, false)`;
    default:
      return sql`coalesce(${relativeDays(field, filter.operator, filter.days)}, false)`;
  }
}

const any = (conditions: Condition[]): Condition => (conditions.length === 0 ? FALSE : sql`(${sql.join(conditions, sql` OR `)})`);
const all = (conditions: Condition[]): Condition => (conditions.length === 0 ? TRUE : sql`(${sql.join(conditions, sql` AND `)})`);

/** The SQL condition a customer row meets when it matches the filter. */
export function filterCondition(group: FilterGroup): Condition {
  const parts = group.parts.map((part) => ('junction' in part ? filterCondition(part) : condition(part)));
  return group.junction === 'or' ? any(parts) : all(parts);
}

/**
 * The customers one condition on a metadata key declared as a number or a string matches, by
 * customer_metadata_values (the live customers whose value has the key's type) and its counts:
 * an equality or a number's comparison. A single value's customers come in created_at order from
 * the values' index. Anything else answers undefined.
 */
function declaredValues(filter: FilterCondition): CustomerSet | undefined {
  const { field } = filter;
  if (field.kind !== 'metadata' || field.path.length !== 1 || !field.declared || field.declared.array) return undefined;
  const { type } = field.declared;
  if (type !== 'number' && type !== 'string') return undefined;
  const key = field.path[0]!;
  const counts = builder
    .selectFrom('customer_metadata_counts')
    .select(sql<number>`coalesce(sum(${sql.ref('customer_metadata_counts.live')}), 0)::int`.as('total'))
    .where('customer_metadata_counts.key', '=', key);
  switch (filter.operator) {
    case '$is':
    case '$in': {
      const values = type === 'number' ? filter.values.map(String) : (filter.values as string[]);
      const column = type === 'number' ? 'number' : 'text';
      const cast = sql.raw(type === 'number' ? 'numeric' : 'text');
      const [single] = values;
      return {
        total: counts.where(sql.ref(`customer_metadata_counts.${column}`), '=', sql<string>`ANY(${values}::${cast}[])`),
        // One value at a time: an index scan for ANY(...) of several returns them in no order.
        ordered:
          values.length === 1
            ? {
                table: 'customer_metadata_values',
                where: sql<SqlBool>`key = ${key}::text AND ${sql.ref(column)} = ${single}::${cast}`,
              }
            : undefined,
      };
    }
    case '$more_than':
    case '$less_than':
    case '$more_than_equal':
    case '$less_than_equal':
      return {
        total: counts.where(
          'customer_metadata_counts.number',
          NUMBER_COMPARATORS[filter.operator],
          sql<string>`${String(filter.number)}::numeric`,
        ),
      };
    default:
      return undefined;
  }
}

/** A filter's condition on customers, and the set of customers it matches when an index has them. */
export function filterMatch(group: FilterGroup): CustomerMatch {
  let single: FilterGroup | FilterCondition = group;
  while ('junction' in single && single.parts.length === 1) single = single.parts[0]!;
  return { condition: filterCondition(group), members: 'junction' in single ? undefined : declaredValues(single) };
}
