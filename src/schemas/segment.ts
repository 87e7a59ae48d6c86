import { Type, type Static } from '@sinclair/typebox';
import { Nullable, PageLimit, StringEnum } from './common.js';

/** The most customers a static segment lists, as Voucherify's reference caps it. */
export const MAX_STATIC_SEGMENT_CUSTOMERS = 20_000;

export const segmentTypes = ['static', 'auto-update'] as const;
export type SegmentType = (typeof segmentTypes)[number];

/** The filter language's object, read and checked by the service (src/customers/filters.ts), which names what is wrong. */
export const CustomerFilter = Type.Unsafe<Record<string, unknown>>({
  type: 'object',
  description:
    'Voucherify\'s filter object: `junction` (`and` | `or`, default `and`), then per field `{ "conditions": { "$operator": value } }` (a value bare or in a one-element array; `$in` and `$not_in` take an array), and `filters`, an array of nested filter objects (at most 5 levels, 50 conditions). Fields: `id`, `source_id`, `name`, `email`, `phone`, `description`, `created_at`, `updated_at`, `birthdate`, `birthday`, `city`, `address.<line_1|line_2|city|state|country|postal_code>`, `metadata.<key>[.<key>…]`. Operators: `$is`, `$is_not`, `$in`, `$not_in`, `$has_value`, `$is_unknown` on every field; `$starts_with`, `$ends_with`, `$contains`, `$not_contain` (literal text, case-sensitive) on text and metadata; `$more_than`, `$less_than`, `$more_than_equal`, `$less_than_equal` (numbers) on metadata; `$after`, `$before` (a date or date-time) on times, dates and metadata; `$is_days_ago`, `$is_days_in_future`, `$more_than_ago`, `$less_than_ago`, `$more_than_future`, `$less_than_future` (whole days) on created_at and updated_at.',
  example: {
    junction: 'and',
    email: { conditions: { $ends_with: ['@example.com'] } },
    'metadata.tier': { conditions: { $in: ['gold', 'platinum'] } },
  },
});

export const SegmentCreateBody = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200, description: 'Segment name.' }),
    type: StringEnum(segmentTypes, {
      description: '`static`: the customers listed; `auto-update`: every customer the filter matches, at every read.',
    }),
    customers: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 255 }), {
        maxItems: MAX_STATIC_SEGMENT_CUSTOMERS,
        description: `static: the customers, each by id or source_id (at most ${MAX_STATIC_SEGMENT_CUSTOMERS}).`,
      }),
    ),
    filter: Type.Optional(CustomerFilter),
  },
  {
    additionalProperties: false,
    title: 'SegmentsCreateRequestBody',
    example: { name: 'Gold customers', type: 'auto-update', filter: { 'metadata.tier': { conditions: { $is: 'gold' } } } },
  },
);
export type SegmentCreateBody = Static<typeof SegmentCreateBody>;

const segmentExample = {
  id: 'seg_1wc52c5z6r1kQ81brO8j9Hk2',
  name: 'Gold customers',
  created_at: '2022-05-12T13:01:56.896Z',
  type: 'auto-update',
  filter: { 'metadata.tier': { conditions: { $is: 'gold' } } },
  initial_sync_status: 'DONE',
  object: 'segment',
};

export const Segment = Type.Object(
  {
    id: Type.String({ example: 'seg_1wc52c5z6r1kQ81brO8j9Hk2' }),
    name: Type.String(),
    created_at: Type.String({ format: 'date-time' }),
    type: StringEnum(segmentTypes),
    filter: Nullable(Type.Object({}, { additionalProperties: true, description: 'auto-update: the filter; static: null.' })),
    initial_sync_status: StringEnum(['IN_PROGRESS', 'DONE'] as const, {
      description: 'Always DONE: membership is evaluated at every read, with nothing to sync.',
    }),
    object: Type.Literal('segment'),
  },
  { title: 'Segment', example: segmentExample },
);
export type Segment = Static<typeof Segment>;

export const SegmentIdParams = Type.Object({
  segmentId: Type.String({ description: 'A segment id, `seg_…`.' }),
});
export type SegmentIdParams = Static<typeof SegmentIdParams>;

export const SegmentListQuery = Type.Object(
  {
    limit: Type.Optional(PageLimit),
    page: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 1, description: 'Page number.' })),
  },
  { additionalProperties: false },
);
export type SegmentListQuery = Static<typeof SegmentListQuery>;

export const SegmentList = Type.Object(
  {
    object: Type.Literal('list'),
    data_ref: Type.Literal('data'),
    data: Type.Array(Segment, { description: 'Newest first.' }),
    total: Type.Integer({ minimum: 0 }),
  },
  { title: 'SegmentsList', example: { object: 'list', data_ref: 'data', data: [segmentExample], total: 1 } },
);
export type SegmentList = Static<typeof SegmentList>;

export const SimpleSegment = Type.Object(
  { id: Type.String(), name: Type.String(), object: Type.Literal('segment') },
  { title: 'SimpleSegment' },
);

export const CustomerSegmentList = Type.Object(
  {
    object: Type.Literal('list'),
    data_ref: Type.Literal('data'),
    data: Type.Array(SimpleSegment, { description: 'The segments the customer is in now, oldest first.' }),
    total: Type.Integer({ minimum: 0 }),
  },
  {
    title: 'CustomersSegmentsListResponseBody',
    example: {
      object: 'list',
      data_ref: 'data',
      data: [{ id: 'seg_1wc52c5z6r1kQ81brO8j9Hk2', name: 'Gold customers', object: 'segment' }],
      total: 1,
    },
  },
);
export type CustomerSegmentList = Static<typeof CustomerSegmentList>;
