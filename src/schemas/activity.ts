import { Type, type Static } from '@sinclair/typebox';
import { Count, PageLimit, StringEnum, Timestamp } from './common.js';
import { Customer, customerExample } from './customer.js';

/** Examples for the OpenAPI document. */
const activityExample = {
  id: 'evcus_0c150c51730c6b60b1',
  type: 'customer.created',
  data: { customer: customerExample },
  created_at: '2022-08-30T06:32:07.380Z',
  group_id: 'v-1f36113948e50fc4ge',
};

export const activityOrders = ['created_at', '-created_at'] as const;

/**
 * The events this service records, and the category of each. Voucherify files what a request
 * did to a customer under ACTION and what followed from it (a segment entered, a message sent,
 * a reward) under EFFECT: every event here is a change a request made, so an ACTION.
 */
export const CUSTOMER_EVENTS = {
  created: { type: 'customer.created', category: 'ACTION' },
  updated: { type: 'customer.updated', category: 'ACTION' },
  deleted: { type: 'customer.deleted', category: 'ACTION' },
} as const;
export const activityCategories = ['ACTION', 'EFFECT'] as const;
export type ActivityCategory = (typeof activityCategories)[number];

/** The event types of a category. */
export const eventTypesOf = (category: ActivityCategory): string[] =>
  Object.values(CUSTOMER_EVENTS)
    .filter((event) => event.category === category)
    .map((event) => event.type);
const campaignTypes = ['LOYALTY_PROGRAM', 'PROMOTION', 'DISCOUNT_COUPONS', 'GIFT_VOUCHERS', 'REFERRAL_PROGRAM'] as const;

export const CustomerActivity = Type.Object(
  {
    id: Type.String({ example: 'evcus_0c150c51730c6b60b1' }),
    type: Type.String({
      description: 'customer.created, customer.updated or customer.deleted.',
      example: 'customer.created',
    }),
    data: Type.Object(
      {
        customer: Customer,
      },
      { description: 'The customer as the change left it (as it was, for customer.deleted).' },
    ),
    created_at: Type.String({ format: 'date-time', example: '2022-08-30T09:14:07.660Z' }),
    group_id: Type.String({ description: 'The id of the request that made the change.', example: 'v-1f36113948e50fc4ge' }),
  },
  { title: 'CustomerActivity' },
);
export type CustomerActivity = Static<typeof CustomerActivity>;

const limit = Type.Optional(PageLimit);
const order = Type.Optional(
  StringEnum(activityOrders, { default: '-created_at', description: 'Oldest first (created_at) or newest first (-created_at).' }),
);
const startingAfterId = Type.Optional(
  Type.String({ minLength: 1, maxLength: 64, description: 'Cursor: the events after this event, in the order asked.' }),
);
const startDate = Type.Optional(Timestamp({ description: 'Only events created at or after this time.' }));
const endDate = Type.Optional(Timestamp({ description: 'Only events created at or before this time.' }));
// This service keeps no campaigns or products: filtering by one is valid and finds no events.
const campaignFilters = {
  campaign_id: Type.Optional(
    Type.String({ minLength: 1, maxLength: 255, description: 'Only events of this campaign (none here).' }),
  ),
  campaign_type: Type.Optional(StringEnum(campaignTypes, { description: 'Only events of this campaign type (none here).' })),
};

export const CustomerActivityQuery = Type.Object(
  {
    limit,
    order,
    starting_after_id: startingAfterId,
    start_date: startDate,
    end_date: endDate,
    type: Type.Optional(
      Type.String({
        pattern: '^customer(\\.[a-z_]+)+$',
        maxLength: 100,
        description: 'Only events of this type, e.g. customer.updated.',
      }),
    ),
    category: Type.Optional(
      StringEnum(activityCategories, {
        description: 'Only actions (what requests did: every event here) or effects (what followed from them: none here).',
      }),
    ),
    ...campaignFilters,
  },
  { additionalProperties: false },
);
export type CustomerActivityQuery = Static<typeof CustomerActivityQuery>;

export const CustomerActivityList = Type.Object(
  {
    object: Type.Literal('list'),
    data_ref: Type.Literal('data'),
    data: Type.Array(CustomerActivity),
    has_more: Type.Boolean(),
    more_starting_after: Type.Optional(Type.String({ description: 'Pass as starting_after_id for the next page.' })),
  },
  {
    title: 'CustomerActivityList',
    example: { object: 'list', data_ref: 'data', data: [activityExample], has_more: false },
  },
);
export type CustomerActivityList = Static<typeof CustomerActivityList>;

export const CustomerActivitiesQuery = Type.Object(
  {
    limit,
    order,
    starting_after: Type.Optional(Timestamp({ description: 'Cursor on created_at (exclusive), in the order asked.' })),
    starting_after_id: startingAfterId,
    start_date: startDate,
    end_date: endDate,
    ...campaignFilters,
    product_id: Type.Optional(
      Type.String({ minLength: 1, maxLength: 255, description: 'Only events of this product (none here).' }),
    ),
  },
  { additionalProperties: false },
);
export type CustomerActivitiesQuery = Static<typeof CustomerActivitiesQuery>;

export const CustomerActivitiesList = Type.Object(
  {
    object: Type.Literal('list'),
    data_ref: Type.Literal('data'),
    data: Type.Array(CustomerActivity),
    total: Type.Integer({ minimum: 0, description: 'How many events match the filters.' }),
  },
  { title: 'CustomerActivitiesList', example: { object: 'list', data_ref: 'data', data: [activityExample], total: 1 } },
);
export type CustomerActivitiesList = Static<typeof CustomerActivitiesList>;

export const PermanentDeletion = Type.Object(
  {
    id: Type.String({ example: 'del_7k3buMvBsJuXiLRmdh1WZvZs' }),
    created_at: Type.String({ format: 'date-time' }),
    related_object_id: Type.String({ example: 'cust_XI8sPLvznzVpNI1BMIWGcUJa' }),
    related_object: Type.Literal('customer'),
    status: Type.Literal('DONE'),
    data_json: Type.Object({
      events: Count,
      customer_events: Count,
      daily_events: Count,
      segments: Count,
      orders: Count,
      order_events: Count,
      customer: Count,
    }),
    // Voucherify's spelling, which its SDK expects.
    object: Type.Literal('pernament_deletion'),
  },
  {
    title: 'PermanentDeletion',
    example: {
      id: 'del_7k3buMvBsJuXiLRmdh1WZvZs',
      created_at: '2022-09-01T10:12:03.214Z',
      related_object_id: 'cust_XI8sPLvznzVpNI1BMIWGcUJa',
      related_object: 'customer',
      status: 'DONE',
      data_json: { events: 2, customer_events: 2, daily_events: 0, segments: 0, orders: 0, order_events: 0, customer: 1 },
      object: 'pernament_deletion',
    },
  },
);
export type PermanentDeletion = Static<typeof PermanentDeletion>;

export const PermanentDeletionBody = Type.Object(
  {},
  { additionalProperties: false, description: 'No parameters: send nothing or {}.', example: {} },
);

/** An event of the feed of all customers (GET /v1/customer-events), and the body of a webhook delivery. */
export const CustomerEvent = Type.Composite([CustomerActivity, Type.Object({ object: Type.Literal('event') })], {
  title: 'CustomerEvent',
});
export type CustomerEvent = Static<typeof CustomerEvent>;

/** An event id as a cursor. */
export const EventId = Type.String({ minLength: 1, maxLength: 64, example: 'evcus_0c150c51730c6b60b1' });

export const CustomerEventsQuery = Type.Object(
  {
    limit,
    starting_after: Type.Optional(
      Type.String({ ...EventId, description: 'Cursor: the events after this event (pass more_starting_after).' }),
    ),
    type: Type.Optional(
      StringEnum(
        Object.values(CUSTOMER_EVENTS).map((event) => event.type),
        { description: 'Only events of this type.' },
      ),
    ),
    start_date: startDate,
    end_date: endDate,
  },
  { additionalProperties: false },
);
export type CustomerEventsQuery = Static<typeof CustomerEventsQuery>;

export const CustomerEventList = Type.Object(
  {
    object: Type.Literal('list'),
    data_ref: Type.Literal('data'),
    data: Type.Array(CustomerEvent),
    has_more: Type.Boolean(),
    more_starting_after: Type.Optional(
      Type.String({ description: 'The last event of the page: pass as starting_after for the next one.' }),
    ),
  },
  {
    title: 'CustomerEventList',
    example: { object: 'list', data_ref: 'data', data: [{ ...activityExample, object: 'event' }], has_more: false },
  },
);
export type CustomerEventList = Static<typeof CustomerEventList>;
