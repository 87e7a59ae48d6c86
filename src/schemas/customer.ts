import { Type, type Static, type TOptional, type TSchema } from '@sinclair/typebox';
import { CalendarDate, Count, Nullable, PageLimit, StringEnum, Timestamp } from './common.js';

/** Limits from the contract: strings 1..255 chars unless said otherwise. */
const Text = (description: string, maxLength = 255) => Type.String({ minLength: 1, maxLength, description });

const MAX_METADATA_DEPTH = 5;

const MetadataScalar = [Type.String(), Type.Number(), Type.Boolean(), Type.Null()];
/** Metadata keys: the CSV import checks its metadata columns' names against the same limit. */
export const MAX_METADATA_KEY_LENGTH = 100;
export const MetadataKey = { minLength: 1, maxLength: MAX_METADATA_KEY_LENGTH };

/** A metadata value: a scalar, an array of scalars, or an object nested at most `depth` more levels. */
const metadataValue = (depth: number): TSchema =>
  Type.Union(
    [
      ...MetadataScalar,
      Type.Array(Type.Union(MetadataScalar)),
      ...(depth > 0 ? [Type.Object({}, { propertyNames: MetadataKey, additionalProperties: metadataValue(depth - 1) })] : []),
    ],
    {
      errorMessage:
        depth > 0
          ? `must be a string, number, boolean, null, an array of those, or an object nested at most ${MAX_METADATA_DEPTH} levels deep`
          : `must be a string, number, boolean, null or an array of those (objects nest at most ${MAX_METADATA_DEPTH} levels deep)`,
    },
  );

/** Custom key/value pairs: at most 100 keys of 1..100 chars, 16 KiB serialized. */
export const MetadataInput = Type.Unsafe<Record<string, unknown>>(
  Type.Object(
    {},
    {
      description: 'Custom key/value pairs: at most 100 keys, 16 KiB serialized, objects nested at most 5 levels.',
      example: { lang: 'en', test: true },
      maxProperties: 100,
      maxJsonBytes: 16 * 1024,
      propertyNames: MetadataKey,
      additionalProperties: metadataValue(MAX_METADATA_DEPTH - 1),
    },
  ),
);
const Metadata = Type.Record(Type.String(), Type.Unknown(), {
  description: 'Custom key/value pairs attached to the customer.',
  example: { lang: 'en', test: true },
});

const addressFields = {
  city: Text('City.'),
  state: Text('State.'),
  line_1: Text('First line of the address.'),
  line_2: Text('Second line of the address.'),
  country: Text('Country.'),
  postal_code: Text('Postal code.'),
};
type AddressField = keyof typeof addressFields;

const optionalFields = <F extends Record<string, TSchema>>(fields: F, nullable: boolean) =>
  Object.fromEntries(
    Object.entries(fields).map(([name, schema]) => [name, Type.Optional(nullable ? Nullable(schema) : schema)]),
  ) as { [K in keyof F]: TOptional<F[K]> };

const AddressInput = Type.Unsafe<{ [K in AddressField]?: string | null }>(
  Type.Object(optionalFields(addressFields, true), { additionalProperties: false, description: "Customer's address." }),
);
export const Address = Type.Object(optionalFields(addressFields, false), { description: "Customer's address." });
export type Address = Static<typeof Address>;

/** The client-writable string fields, each stored in its own column. */
const textFields = {
  name: Text("Customer's first and last name."),
  description: Text('An arbitrary string attached to the customer.', 1024),
  email: Type.String({ format: 'email', maxLength: 255, description: "Customer's email address." }),
  phone: Text("Customer's phone number."),
  birthday: CalendarDate({ description: 'Deprecated: use birthdate. YYYY-MM-DD.' }),
  birthdate: CalendarDate({ description: "Customer's birthdate, YYYY-MM-DD." }),
};
export type CustomerTextField = keyof typeof textFields;
export const customerTextFields = Object.keys(textFields) as CustomerTextField[];

export const SourceId = Text('Your identifier of the customer (unique among live customers).');

/** Examples for the OpenAPI document, after Voucherify's reference. */
const writableExample = {
  name: 'Bob Smith',
  email: 'bob.smith@email.com',
  phone: '+1 933 222 3333',
  birthdate: '2022-01-01',
  address: { city: 'New York', country: 'United States', line_1: '123 Main St.', postal_code: '10001', state: 'NY' },
  metadata: { lang: 'en', test: true },
};

/** This service keeps no redemptions, orders or loyalty: these are always the zeroed shapes. */
export const EMPTY_SUMMARY = {
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
export const EMPTY_LOYALTY = { points: 0, referred_customers: 0, campaigns: {} };
export const EMPTY_REFERRALS = { total: 0, campaigns: [] };

export const customerExample = {
  id: 'cust_CSnYd37MXmrbS19XCrghjBsv',
  source_id: 'source_123',
  ...writableExample,
  summary: EMPTY_SUMMARY,
  loyalty: EMPTY_LOYALTY,
  referrals: EMPTY_REFERRALS,
  system_metadata: {},
  created_at: '2022-08-30T06:32:07.380Z',
  assets: {
    cockpit_url: 'http://localhost:3000/cockpit/cust_CSnYd37MXmrbS19XCrghjBsv?token=q1bGmB6kQ0v3ZpJ9yB2Cw3yT5m0cXo8sRrQeZk1n2aA',
  },
  object: 'customer',
};

/** Writable fields as a request sends them: each optional, `null` clears it. */
const baseInput = {
  ...optionalFields(textFields, true),
  address: Type.Optional(Nullable(AddressInput)),
  metadata: Type.Optional(Nullable(MetadataInput)),
};

export const CustomerCreateBody = Type.Object(
  {
    id: Type.Optional(Type.String({ description: 'An existing customer to update instead of creating one.' })),
    source_id: Type.Optional(Nullable(SourceId)),
    ...baseInput,
  },
  { additionalProperties: false, example: { source_id: 'source_123', ...writableExample } },
);
export type CustomerCreateBody = Static<typeof CustomerCreateBody>;

export const CustomerUpdateBody = Type.Object(
  {
    // The official SDK sends these back on update; they are accepted and ignored.
    id: Type.Optional(Type.Unknown({ description: 'Ignored.' })),
    source_id: Type.Optional(Type.Unknown({ description: 'Ignored: a source_id cannot change after creation.' })),
    ...baseInput,
  },
  { additionalProperties: false, example: { phone: '+1 933 222 4444', address: null } },
);
export type CustomerUpdateBody = Static<typeof CustomerUpdateBody>;

/** One customer of a bulk update: found by source_id and updated with PUT semantics, or created. */
export const CustomerBulkItem = Type.Object(
  { source_id: SourceId, ...baseInput },
  { additionalProperties: false, title: 'CustomersUpdateInBulkRequestBody' },
);
export type CustomerBulkItem = Static<typeof CustomerBulkItem>;

/** The stored, client-writable part of a customer, as an update sends it. */
export type CustomerFields = Omit<CustomerUpdateBody, 'id' | 'source_id'>;

const CustomerSummary = Type.Object({
  redemptions: Type.Object({
    total_redeemed: Count,
    total_failed: Count,
    total_succeeded: Count,
    total_rolled_back: Count,
    total_rollback_failed: Count,
    total_rollback_succeeded: Count,
    gift: Type.Object({ redeemed_amount: Count, amount_to_go: Count }),
    loyalty_card: Type.Object({ redeemed_points: Count, points_to_go: Count }),
  }),
  orders: Type.Object({
    total_amount: Count,
    total_count: Count,
    average_amount: Count,
    last_order_amount: Count,
    last_order_date: Type.Optional(Type.String()),
  }),
});
const CustomerLoyalty = Type.Object({
  points: Count,
  referred_customers: Count,
  campaigns: Type.Record(Type.String(), Type.Unknown()),
});
const CustomerReferrals = Type.Object({ total: Count, campaigns: Type.Array(Type.Unknown()) });

export const Customer = Type.Object(
  {
    id: Type.String({ example: 'cust_CSnYd37MXmrbS19XCrghjBsv' }),
    source_id: Type.Optional(SourceId),
    ...optionalFields(textFields, false),
    address: Nullable(Address),
    summary: CustomerSummary,
    loyalty: CustomerLoyalty,
    referrals: CustomerReferrals,
    metadata: Metadata,
    system_metadata: Type.Record(Type.String(), Type.Unknown()),
    created_at: Type.String({ format: 'date-time', example: '2022-08-30T06:32:07.380Z' }),
    updated_at: Type.Optional(Type.String({ format: 'date-time', example: '2022-08-31T06:32:07.380Z' })),
    assets: Type.Object({ cockpit_url: Type.String({ description: "URL of the customer's read-only profile page." }) }),
    object: Type.Literal('customer'),
  },
  { title: 'Customer', example: customerExample },
);
export type Customer = Static<typeof Customer>;

export const CustomerIdParams = Type.Object({
  customerId: Type.String({ description: "A customer's `id` or `source_id` (URL-encoded)." }),
});
export type CustomerIdParams = Static<typeof CustomerIdParams>;

export const customerOrders = ['created_at', '-created_at', 'updated_at', '-updated_at', 'source_id', '-source_id'] as const;
export type CustomerOrder = (typeof customerOrders)[number];

/** Query parameters of the `filters` object in bracket notation: `filters[email][conditions][$is]`. */
export const FILTERS_PARAMETER_PATTERN = '^filters\\[.+\\]$';

const Filter = (description: string) => Type.String({ minLength: 1, maxLength: 1024, description });

export const CustomerListQuery = Type.Object(
  {
    limit: Type.Optional(PageLimit),
    page: Type.Optional(Type.Integer({ minimum: 1, maximum: 99, default: 1, description: 'Page number, 1..99.' })),
    email: Type.Optional(Filter('Only customers with exactly this email.')),
    city: Type.Optional(Filter('Only customers whose address.city is exactly this.')),
    name: Type.Optional(Filter('Only customers with exactly this name.')),
    'created_at[before]': Type.Optional(Timestamp({ description: 'Only customers created before this time.' })),
    'created_at[after]': Type.Optional(Timestamp({ description: 'Only customers created after this time.' })),
    'updated_at[before]': Type.Optional(Timestamp({ description: 'Only customers last updated before this time.' })),
    'updated_at[after]': Type.Optional(Timestamp({ description: 'Only customers last updated after this time.' })),
    order: Type.Optional(
      StringEnum(customerOrders, { default: '-created_at', description: 'Sort order; a leading `-` sorts descending.' }),
    ),
    starting_after: Type.Optional(
      Timestamp({
        description:
          'Cursor on created_at (exclusive): with order -created_at (default) the customers created before it, with created_at those created after it.',
      }),
    ),
    segment_id: Type.Optional(
      Type.String({ minLength: 1, maxLength: 100, description: 'Only the members of this segment (`seg_…`), as they are now.' }),
    ),
    filters: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 16_384,
        description:
          "A filter object of the filter language (see POST /v1/segments), as JSON; or, as Voucherify's list routes and its SDKs send it, in bracket notation: `filters[junction]=or&filters[email][conditions][$ends_with]=@example.com&filters[metadata.tier][conditions][$in][0]=gold`.",
      }),
    ),
  },
  {
    additionalProperties: false,
    // The bracket notation of `filters`, read by the service into the filter object.
    patternProperties: { [FILTERS_PARAMETER_PATTERN]: Type.Union([Type.String(), Type.Array(Type.String())]) },
  },
);
export type CustomerListQuery = Static<typeof CustomerListQuery>;

export const CustomerList = Type.Object(
  {
    object: Type.Literal('list'),
    data_ref: Type.Literal('customers'),
    customers: Type.Array(Customer),
    total: Type.Integer({ minimum: 0, description: 'How many customers match the filters.' }),
    has_more: Type.Boolean(),
  },
  {
    title: 'CustomersList',
    example: { object: 'list', data_ref: 'customers', customers: [customerExample], total: 1, has_more: false },
  },
);
export type CustomerList = Static<typeof CustomerList>;
