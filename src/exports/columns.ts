import { sql, type Expression, type RawBuilder, type SqlBool } from 'kysely';
import pg from 'pg';
import { FILTER_LIMITS } from '../customers/filters.js';
import { customerColumn, isLive } from '../customers/repository/columns.js';
import { builder, wireDate, wireTime } from '../customers/repository/statements.js';
import type { ExportCustomerField, ExportOrder } from '../schemas/export.js';
import { spreadsheetSafeSql as safe } from '../spreadsheet-csv.js';

/** A column of an export: a field of the reference's list, or one metadata value by its path. */
export type ExportColumn = { kind: 'field'; field: ExportCustomerField } | { kind: 'metadata'; path: string[] };

type Cell = RawBuilder<string | null>;

const address = (key: string): Cell => safe(sql`(${customerColumn('address')} ->> ${sql.lit(key)})`);

/** This service keeps no redemptions, orders or loyalty: their counts and amounts are 0, as the customer's summary has them. */
const ZERO: Cell = sql`'0'`;

/** Each field's cell as SQL text: people's text escaped against formulas, times and dates in the wire format. */
const FIELD_CELLS: Record<ExportCustomerField, Cell> = {
  name: safe(customerColumn('name')),
  id: safe(customerColumn('id')),
  description: safe(customerColumn('description')),
  email: safe(customerColumn('email')),
  source_id: safe(customerColumn('source_id')),
  phone: safe(customerColumn('phone')),
  created_at: wireTime(customerColumn('created_at')),
  updated_at: wireTime(customerColumn('updated_at')),
  birthday: wireDate(customerColumn('birthday')),
  birthdate: wireDate(customerColumn('birthdate')),
  address_city: address('city'),
  address_state: address('state'),
  address_line_1: address('line_1'),
  address_line_2: address('line_2'),
  address_country: address('country'),
  address_postal_code: address('postal_code'),
  metadata: safe(sql`${customerColumn('metadata')}::text`),
  redemptions_total_redeemed: ZERO,
  redemptions_total_failed: ZERO,
  redemptions_total_succeeded: ZERO,
  redemptions_total_rolled_back: ZERO,
  redemptions_total_rollback_failed: ZERO,
  redemptions_total_rollback_succeeded: ZERO,
  orders_total_amount: ZERO,
  orders_total_count: ZERO,
  orders_average_amount: ZERO,
  orders_last_order_amount: ZERO,
  orders_last_order_date: sql`NULL`,
  loyalty_points: ZERO,
  loyalty_referred_customers: ZERO,
};

/** A metadata value: a string as itself, any other value as JSON, a missing one empty. */
const metadataCell = (path: readonly string[]): Cell => safe(sql`(${customerColumn('metadata')} #>> ${sql.val(path)}::text[])`);

const cell = (column: ExportColumn): Cell => (column.kind === 'field' ? FIELD_CELLS[column.field] : metadataCell(column.path));

const ORDER_COLUMNS = {
  name: 'name',
  id: 'id',
  email: 'email',
  source_id: 'source_id',
  created_at: 'created_at',
  updated_at: 'updated_at',
} as const;

/**
 * The SELECT of an export's rows, the live customers the condition matches in the order asked
 * (customers without the value last, the id breaking ties), with its values written into the
 * text: COPY takes no parameters. Every value is a literal escaped by the driver, as a parameter
 * would have carried it; no value is ever written as SQL.
 */
export function exportSelect(columns: readonly ExportColumn[], order: ExportOrder, condition?: Expression<SqlBool>): string {
  const descending = order.startsWith('-');
  const column = ORDER_COLUMNS[(descending ? order.slice(1) : order) as keyof typeof ORDER_COLUMNS];
  const direction = descending ? 'desc' : 'asc';
  const query = builder
    .selectFrom('customers')
    .select(columns.map((one, index) => cell(one).as(`c${index}`)))
    .where(isLive)
    .$if(condition !== undefined, (select) => select.where(condition!))
    .orderBy(`customers.${column}`, (by) => by[direction]().nullsLast())
    .$if(column !== 'id', (select) => select.orderBy('customers.id', direction))
    .compile();
  return inlined(query.sql, query.parameters);
}

/** How the driver writes a parameter's value as text (arrays in PostgreSQL's array syntax); @types/pg leaves it out. */
const { prepareValue } = (pg as unknown as { utils: { prepareValue(value: unknown): string | null } }).utils;

/** A parameter's value as a literal, the text the driver would have sent for it. */
function literal(value: unknown): string {
  const text = prepareValue(value);
  return text === null ? 'NULL' : pg.escapeLiteral(text);
}

/** The statement's `$n` parameters replaced by their values as literals. */
const inlined = (text: string, values: readonly unknown[]): string =>
  text.replace(/\$(\d+)/g, (_match, position: string) => literal(values[Number(position) - 1]));

/** The column a field of `parameters.fields` names, or undefined when it names none. */
export function exportColumn(field: string): ExportColumn | undefined {
  if (Object.hasOwn(FIELD_CELLS, field)) return { kind: 'field', field: field as ExportCustomerField };
  if (!field.startsWith('metadata.')) return undefined;
  const path = field.slice('metadata.'.length).split('.');
  return path.length <= FILTER_LIMITS.metadataPath && path.every((key) => key.length > 0)
    ? { kind: 'metadata', path }
    : undefined;
}

/** Whether a filter object has a condition: Voucherify's clients send `{ "junction": "and" }` alone for none. */
export const hasConditions = (filters: Record<string, unknown> | undefined): filters is Record<string, unknown> =>
  filters !== undefined && Object.keys(filters).some((key) => key !== 'junction');
