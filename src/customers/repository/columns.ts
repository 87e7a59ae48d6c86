import { sql, type Expression, type Selectable } from 'kysely';
import type { Customer } from '../../generated/kysely/types.js';
import type { Address, CustomerTextField } from '../../schemas/customer.js';
import { wireDate, wireTime } from './statements.js';

/** A column of the customers table, qualified: a bare created_at in ORDER BY would mean the formatted select-list column. */
export const customerColumn = <Column extends keyof Customer>(column: Column) =>
  sql.ref<Selectable<Customer>[Column]>(`customers.${column}`);

/**
 * Whether the customer is live (not deleted): the generated column every index of customers
 * covers (prisma/schema.prisma says why). prisma-kysely leaves its Unsupported type out of the
 * generated types, so it is named here once.
 */
export const isLive = sql<boolean>`${sql.ref('customers.live')}`;

/**
 * What a deleted customer's source_id gets appended, `_deleted<deletion time>`, which frees the
 * source_id for a new customer.
 */
export const deletedSourceIdSuffix = (deletedAt: Expression<Date | string | null>) =>
  sql<string>`'_deleted' || ${wireTime(deletedAt)}`;

/** What a live customer's row reads as: timestamps and dates already in the wire format. */
export const CUSTOMER_SELECTION = [
  customerColumn('id').as('id'),
  customerColumn('source_id').as('source_id'),
  customerColumn('name').as('name'),
  customerColumn('description').as('description'),
  customerColumn('email').as('email'),
  customerColumn('phone').as('phone'),
  wireDate(customerColumn('birthday')).as('birthday'),
  wireDate(customerColumn('birthdate')).as('birthdate'),
  sql<Address | null>`${customerColumn('address')}`.as('address'),
  sql<Record<string, unknown>>`${customerColumn('metadata')}`.as('metadata'),
  wireTime(customerColumn('created_at')).as('created_at'),
  sql<string | null>`${wireTime(customerColumn('updated_at'))}`.as('updated_at'),
  sql<string | null>`${wireTime(customerColumn('cockpit_links_revoked_through'))}`.as('cockpit_links_revoked_through'),
] as const;

/** A live customer as the repository reads it. */
export interface CustomerRow {
  id: string;
  source_id: string | null;
  name: string | null;
  description: string | null;
  email: string | null;
  phone: string | null;
  birthday: string | null;
  birthdate: string | null;
  address: Address | null;
  metadata: Record<string, unknown>;
  created_at: string;
  updated_at: string | null;
  /**
   * Its cockpit links expiring at or before this time open nothing (src/customers/cockpit.ts).
   * Absent from the snapshots of events written before the column existed.
   */
  cockpit_links_revoked_through?: string | null;
}

/** The stored fields a write sets; a field that is absent stays as it is. */
export type CustomerChanges = Partial<
  Record<CustomerTextField, string | null> & { address: Address | null; metadata: Record<string, unknown> }
>;

/** Each writable field's column type. Every field is a column: a field that is not fails to typecheck here. */
export const WRITABLE = {
  name: 'text',
  description: 'text',
  email: 'text',
  phone: 'text',
  birthday: 'date',
  birthdate: 'date',
  address: 'jsonb',
  metadata: 'jsonb',
} as const satisfies Record<keyof CustomerChanges & keyof Customer, string>;

export type WritableField = keyof typeof WRITABLE;
export const WRITABLE_FIELDS = Object.keys(WRITABLE) as WritableField[];
