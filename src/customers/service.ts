import { invalidQuery, notFound } from '../errors.js';
import { newCustomerId } from '../ids.js';
import {
  customerTextFields,
  type Address,
  type Customer,
  type CustomerCreateBody,
  type CustomerFields,
  type CustomerList,
  type CustomerListQuery,
  type CustomerUpdateBody,
} from '../schemas/customer.js';
import { cockpitToken, isCockpitToken } from './cockpit.js';
import type { CustomerChanges, CustomerRow, CustomerStore } from './store.js';

/** This service keeps no redemptions, orders or loyalty: these are always the zeroed shapes. */
const EMPTY_SUMMARY = {
  redemptions: {
    total_redeemed: 0,
    total_failed: 0,
    total_succeeded: 0,
    total_rolled_back: 0,
    total_rollback_failed: 0,
    total_rollback_succeeded: 0,
    gift: { redeemed_amount: 0, amount_to_go: 0 },
    loyalty_card: { redeemed_points: 0, points_to_go: 0 },
  },
  orders: { total_amount: 0, total_count: 0, average_amount: 0, last_order_amount: 0 },
};
const EMPTY_LOYALTY = { points: 0, referred_customers: 0, campaigns: {} };
const EMPTY_REFERRALS = { total: 0, campaigns: [] };

export interface CustomerServiceOptions {
  /** Base of the cockpit URLs, without a trailing slash. */
  publicUrl: string;
  /** Signs the token in each cockpit URL. */
  cockpitSecret: string;
}

/** A millisecond-precision UTC timestamp in the wire format. */
const timestamp = (date = new Date()): string => date.toISOString();

/** What a request body asks to store: sent fields only, `null` clearing a field. */
export function toChanges(fields: CustomerFields): CustomerChanges {
  const changes: CustomerChanges = {};
  for (const field of customerTextFields) {
    if (fields[field] !== undefined) changes[field] = fields[field];
  }
  if (fields.address !== undefined) {
    // An address subfield sent as null is simply not set: the address is replaced as a whole.
    changes.address =
      fields.address === null
        ? null
        : (Object.fromEntries(Object.entries(fields.address).filter(([, value]) => value !== null)) as Address);
  }
  if (fields.metadata !== undefined) changes.metadata = fields.metadata ?? {};
  return changes;
}

export function createCustomerService(store: CustomerStore, { publicUrl, cockpitSecret }: CustomerServiceOptions) {
  const cockpitUrl = (id: string): string =>
    `${publicUrl}/cockpit/${encodeURIComponent(id)}?token=${cockpitToken(cockpitSecret, id)}`;

  /** The customer object of the contract, from a stored row. Unset fields are left out. */
  function present(row: CustomerRow): Customer {
    const customer: Customer = {
      id: row.id,
      address: row.address,
      summary: EMPTY_SUMMARY,
      loyalty: EMPTY_LOYALTY,
      referrals: EMPTY_REFERRALS,
      metadata: row.metadata,
      system_metadata: {},
      created_at: row.created_at,
      assets: { cockpit_url: cockpitUrl(row.id) },
      object: 'customer',
    };
    if (row.source_id !== null) customer.source_id = row.source_id;
    for (const field of customerTextFields) {
      const value = row[field];
      if (value !== null) customer[field] = value;
    }
    if (row.updated_at !== null) customer.updated_at = row.updated_at;
    return customer;
  }

  const found = (key: string, row: CustomerRow | undefined): Customer => {
    if (!row) throw notFound('customer', key);
    return present(row);
  };

  return {
    present,

    /** POST /customers: update the customer named by `id`, or upsert by `source_id`, or create. */
    async create({ id, source_id: sourceId, ...fields }: CustomerCreateBody): Promise<Customer> {
      const changes = toChanges(fields);
      if (id !== undefined) return found(id, await store.updateById(id, changes, timestamp()));
      return present(await store.upsert(newCustomerId(), sourceId ?? null, changes, timestamp()));
    },

    async get(key: string): Promise<Customer> {
      return found(key, await store.get(key));
    },

    async update(key: string, { id: _id, source_id: _sourceId, ...fields }: CustomerUpdateBody): Promise<Customer> {
      return found(key, await store.update(key, toChanges(fields), timestamp()));
    },

    /**
     * The customer a cockpit link names, when its token is the one signed for that customer
     * id (a source_id or another customer's token finds nothing).
     */
    async cockpit(id: string, token: string): Promise<Customer> {
      const row = isCockpitToken(cockpitSecret, id, token) ? await store.get(id) : undefined;
      return found(id, row?.id === id ? row : undefined);
    },

    async remove(key: string): Promise<void> {
      if (!(await store.remove(key, timestamp()))) throw notFound('customer', key);
    },

    async list(query: CustomerListQuery): Promise<CustomerList> {
      const order = query.order ?? '-created_at';
      const limit = query.limit ?? 10;
      const pageNumber = query.page ?? 1;
      const startingAfter = query.starting_after;
      if (startingAfter !== undefined && !order.endsWith('created_at')) {
        throw invalidQuery('Property .starting_after is a created_at cursor: use it with order created_at or -created_at');
      }
      if (startingAfter !== undefined && pageNumber > 1) {
        throw invalidQuery('Property .page cannot be combined with starting_after');
      }
      const asTimestamp = (value: string | undefined) => (value === undefined ? undefined : timestamp(new Date(value)));
      const { customers, total, hasMore } = await store.list({
        filters: {
          email: query.email,
          name: query.name,
          city: query.city,
          createdBefore: asTimestamp(query['created_at[before]']),
          createdAfter: asTimestamp(query['created_at[after]']),
          updatedBefore: asTimestamp(query['updated_at[before]']),
          updatedAfter: asTimestamp(query['updated_at[after]']),
        },
        order,
        limit,
        page:
          startingAfter === undefined
            ? { kind: 'offset', offset: (pageNumber - 1) * limit }
            : { kind: 'cursor', startingAfter: asTimestamp(startingAfter)! },
      });
      return { object: 'list', data_ref: 'customers', customers: customers.map(present), total, has_more: hasMore };
    },
  };
}

export type CustomerService = ReturnType<typeof createCustomerService>;
