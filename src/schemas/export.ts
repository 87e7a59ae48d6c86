import { Type, type Static } from '@sinclair/typebox';
import { Nullable, PageLimit, StringEnum } from './common.js';
import { CustomerFilter } from './segment.js';

/** The customer fields an export can have as columns (the reference's `ExportCustomerFields`), besides `metadata.<key>`. */
export const EXPORT_CUSTOMER_FIELDS = [
  'name',
  'id',
  'description',
  'email',
  'source_id',
  'created_at',
  'address_city',
  'address_state',
  'address_line_1',
  'address_line_2',
  'address_country',
  'address_postal_code',
  'redemptions_total_redeemed',
  'redemptions_total_failed',
  'redemptions_total_succeeded',
  'redemptions_total_rolled_back',
  'redemptions_total_rollback_failed',
  'redemptions_total_rollback_succeeded',
  'orders_total_amount',
  'orders_total_count',
  'orders_average_amount',
  'orders_last_order_amount',
  'orders_last_order_date',
  'loyalty_points',
  'loyalty_referred_customers',
  'updated_at',
  'phone',
  'birthday',
  'metadata',
  'birthdate',
] as const;
export type ExportCustomerField = (typeof EXPORT_CUSTOMER_FIELDS)[number];

/** The columns of an export that names none, as Voucherify's defaults for customers. */
export const DEFAULT_EXPORT_FIELDS: readonly ExportCustomerField[] = ['name', 'source_id'];

/** The most columns one export has. */
export const MAX_EXPORT_FIELDS = 100;

/** The export orders (`ExportCustomerOrder`): a dash sorts descending. */
export const exportOrders = [
  '-name',
  'name',
  '-id',
  'id',
  '-email',
  'email',
  '-source_id',
  'source_id',
  '-created_at',
  'created_at',
  '-updated_at',
  'updated_at',
] as const;
export type ExportOrder = (typeof exportOrders)[number];

export const exportStatuses = ['SCHEDULED', 'IN_PROGRESS', 'DONE', 'ERROR'] as const;
export type ExportStatus = (typeof exportStatuses)[number];

const fieldsDescription = `The CSV file's columns, in this order: ${EXPORT_CUSTOMER_FIELDS.join(', ')}, or \`metadata.<key>\` (one metadata value; \`metadata.<key>.<key>\` for a nested one). Default: ${DEFAULT_EXPORT_FIELDS.join(', ')}. This service keeps no redemptions, orders or loyalty: those columns hold 0, and orders_last_order_date is empty.`;

export const ExportParameters = Type.Object(
  {
    order: Type.Optional(
      Type.Union([StringEnum(exportOrders), Type.Literal('')], {
        description:
          'The rows\' order; a dash sorts descending. Customers without the value sort last; the id breaks ties. Default (or ""): created_at.',
      }),
    ),
    fields: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 300 }), {
        minItems: 1,
        maxItems: MAX_EXPORT_FIELDS,
        description: fieldsDescription,
      }),
    ),
    filters: Type.Optional(CustomerFilter),
  },
  { additionalProperties: false },
);
export type ExportParameters = Static<typeof ExportParameters>;

export const ExportCreateBody = Type.Object(
  {
    exported_object: Type.String({
      maxLength: 100,
      description: 'Always `customer`: this service exports customers only (any other answers 400).',
    }),
    parameters: Type.Optional(ExportParameters),
  },
  {
    additionalProperties: false,
    title: 'ExportsCreateRequestBody',
    example: {
      exported_object: 'customer',
      parameters: {
        order: '-created_at',
        fields: ['id', 'source_id', 'email', 'metadata.tier'],
        filters: { junction: 'and', email: { conditions: { $ends_with: ['@example.com'] } } },
      },
    },
  },
);
export type ExportCreateBody = Static<typeof ExportCreateBody>;

const exportExample = {
  id: 'exp_CGnCVltmWjI9V1pGlnunw2Nf',
  object: 'export',
  created_at: '2022-01-13T09:03:18.293Z',
  status: 'DONE',
  channel: 'API',
  exported_object: 'customer',
  parameters: { order: '-created_at', fields: ['name', 'id', 'email', 'source_id', 'created_at'] },
  result: { url: 'https://customers.example.com/v1/exports/exp_CGnCVltmWjI9V1pGlnunw2Nf?token=…' },
  user_id: null,
};

export const Export = Type.Object(
  {
    id: Type.String({ example: 'exp_CGnCVltmWjI9V1pGlnunw2Nf' }),
    object: Type.Literal('export'),
    created_at: Type.String({ format: 'date-time' }),
    status: StringEnum(exportStatuses, {
      description: 'SCHEDULED (queued), IN_PROGRESS (being written), DONE (the file is ready) or ERROR.',
    }),
    channel: Type.String({ description: 'Always `API`.' }),
    exported_object: Type.Literal('customer'),
    parameters: Type.Object(
      {
        order: Type.Optional(Type.String()),
        fields: Type.Array(Type.String()),
        filters: Type.Optional(Type.Object({}, { additionalProperties: true, description: 'The filter, as given.' })),
      },
      { description: 'As accepted, the default fields filled in.' },
    ),
    result: Nullable(
      Type.Object(
        {
          url: Type.String({
            description:
              'DONE: the link that downloads the CSV file, without an API key (its token is the credential), until the export is deleted or its retention ends.',
          }),
        },
        { description: 'Set once DONE; null before, and for an ERROR.' },
      ),
    ),
    user_id: Nullable(Type.String({ description: 'Always null: exports are made through the API.' })),
  },
  { title: 'Export', example: exportExample },
);
export type Export = Static<typeof Export>;

export const ExportIdParams = Type.Object({
  exportId: Type.String({ maxLength: 100, description: 'An export id, `exp_…`.' }),
});
export type ExportIdParams = Static<typeof ExportIdParams>;

export const ExportGetQuery = Type.Object(
  {
    token: Type.Optional(
      Type.String({
        maxLength: 100,
        description: "The download token of the export's `result.url`: with it the route streams the CSV file instead.",
      }),
    ),
  },
  { additionalProperties: false },
);
export type ExportGetQuery = Static<typeof ExportGetQuery>;

export const ExportListQuery = Type.Object(
  {
    limit: Type.Optional(PageLimit),
    page: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 1, description: 'Page number.' })),
    order: Type.Optional(
      StringEnum(['created_at', '-created_at', 'status', '-status'] as const, {
        default: '-created_at',
        description: 'A dash sorts descending; the id breaks ties.',
      }),
    ),
  },
  { additionalProperties: false },
);
export type ExportListQuery = Static<typeof ExportListQuery>;

export const ExportList = Type.Object(
  {
    object: Type.Literal('list'),
    data_ref: Type.Literal('exports'),
    exports: Type.Array(Export),
    total: Type.Integer({ minimum: 0, description: 'Exports in all.' }),
  },
  { title: 'ExportsListResponseBody', example: { object: 'list', data_ref: 'exports', exports: [exportExample], total: 1 } },
);
export type ExportList = Static<typeof ExportList>;
