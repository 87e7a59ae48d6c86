import { randomBytes } from 'node:crypto';
import { expect } from 'vitest';
import { createCockpitLinks } from '../../src/customers/cockpit.js';
import { COCKPIT_SECRET, PUBLIC_URL } from './app.js';

export const ANY_CUSTOMER_ID = expect.stringMatching(/^cust_[A-Za-z0-9]{24}$/);
export const ANY_TIMESTAMP = expect.stringMatching(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
export const ANY_REQUEST_ID = expect.stringMatching(/^v-[0-9a-f]{18}$/);

/** A value no other test uses. */
export const unique = (prefix: string): string => `${prefix}-${randomBytes(6).toString('hex')}`;

/** Cockpit links as the test app makes them: signed with its COCKPIT_SECRET, for the default lifetime (168 hours). */
export const testCockpitLinks = createCockpitLinks({
  publicUrl: PUBLIC_URL,
  secrets: { current: COCKPIT_SECRET, previous: [] },
  ttlHours: 168,
});

/**
 * The link to a customer's cockpit page the test app hands out today (test/cockpit.test.ts checks
 * the token independently): the same all UTC day, so a comparison straddling midnight would differ.
 */
export const cockpitUrl = (id: string): string => testCockpitLinks.url(id);

/** A cockpit token: key id, expiry (epoch milliseconds), signature. */
export const COCKPIT_TOKEN = /[\w-]{8}\.\d{13}\.[\w-]{43}/.source;

/** The full customer example from Voucherify's reference (create request). */
export const bobSmith = (sourceId: string) => ({
  source_id: sourceId,
  name: 'Bob Smith',
  description: 'A frequent customer',
  email: 'bob.smith@email.com',
  phone: '+1 933 222 3333',
  address: {
    city: 'New York',
    country: 'United States',
    line_1: '123 Main St.',
    line_2: 'APT 3 BLG 4',
    postal_code: '10001',
    state: 'NY',
  },
  metadata: { lang: 'en', test: true },
  birthdate: '2022-01-01',
});

/**
 * The whole customer object the contract promises for these stored fields: zeroed summary,
 * loyalty and referrals, `address: null` and `metadata: {}` when unset, no `updated_at`
 * unless given.
 */
export function customerBody(
  fields: Record<string, unknown>,
  { id = ANY_CUSTOMER_ID, createdAt = ANY_TIMESTAMP, updatedAt }: { id?: unknown; createdAt?: unknown; updatedAt?: unknown } = {},
) {
  return {
    id,
    ...fields,
    address: fields.address ?? null,
    metadata: fields.metadata ?? {},
    summary: {
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
    },
    loyalty: { points: 0, referred_customers: 0, campaigns: {} },
    referrals: { total: 0, campaigns: [] },
    system_metadata: {},
    created_at: createdAt,
    ...(updatedAt !== undefined && { updated_at: updatedAt }),
    assets: {
      cockpit_url:
        typeof id === 'string'
          ? cockpitUrl(id)
          : expect.stringMatching(`^${PUBLIC_URL}/cockpit/cust_\\w+\\?token=${COCKPIT_TOKEN}$`),
    },
    object: 'customer',
  };
}

/** The contract's error body. */
export const errorBody = (code: number, key: string, message: string, extra: Record<string, unknown> = {}) => ({
  code,
  key,
  message,
  request_id: ANY_REQUEST_ID,
  ...extra,
});

export const invalidPayload = (details: string) => errorBody(400, 'invalid_payload', 'Invalid payload', { details });
export const invalidQuery = (details: string) => errorBody(400, 'invalid_query_params', 'Invalid query params', { details });
export const customerNotFound = (id: string) =>
  errorBody(404, 'not_found', 'Resource not found', {
    details: `Cannot find customer with id ${id}`,
    resource_id: id,
    resource_type: 'customer',
  });
