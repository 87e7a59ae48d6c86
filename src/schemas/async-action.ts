import { Type, type Static, type TArray } from '@sinclair/typebox';
import { PageLimit, StringEnum, Timestamp } from './common.js';
import { CustomerBulkItem, MetadataInput, SourceId } from './customer.js';

/** The largest body the bulk, metadata and CSV endpoints take: 10 MiB, as Voucherify. */
export const MAX_ASYNC_BODY_BYTES = 10 * 1024 * 1024;

/** What a CSV import's multipart/form-data body may hold: the file, and a few small fields at most. */
export const CSV_UPLOAD_LIMITS = {
  fileSize: MAX_ASYNC_BODY_BYTES,
  files: 1,
  fields: 10,
  fieldSize: 64 * 1024,
  parts: 20,
  headerPairs: 100,
} as const;

export const asyncActionTypes = ['CUSTOMERS.IMPORT_CSV', 'CUSTOMERS.BULK_UPDATE', 'CUSTOMERS.METADATA_UPDATE'] as const;
export type AsyncActionType = (typeof asyncActionTypes)[number];

/** The actions whose result links a CSV report of every input row, as AsyncActionsVoucherCustomerProductBulkUpdateResult has it. */
export const REPORTED_TYPES: readonly AsyncActionType[] = ['CUSTOMERS.BULK_UPDATE', 'CUSTOMERS.METADATA_UPDATE'];
export const hasReport = (type: AsyncActionType): boolean => REPORTED_TYPES.includes(type);

/** The columns of a report, one row per input item in input order. */
export const REPORT_COLUMNS = ['row', 'source_id', 'status', 'error_key', 'error_message'] as const;

export const asyncActionStatuses = ['ENQUEUED', 'IN_PROGRESS', 'DONE', 'FAILED'] as const;
export type AsyncActionStatus = (typeof asyncActionStatuses)[number];

/**
 * Whether the action succeeded, as AsyncActionBase's operation_status says it: known only once it
 * has ended. DONE is a success even when some rows failed: each failed row is in the result.
 */
export const OPERATION_STATUS = {
  ENQUEUED: 'UNKNOWN',
  IN_PROGRESS: 'UNKNOWN',
  DONE: 'SUCCESS',
  FAILED: 'FAILED',
} as const satisfies Record<AsyncActionStatus, 'SUCCESS' | 'FAILED' | 'UNKNOWN'>;
const operationStatuses = ['SUCCESS', 'FAILED', 'UNKNOWN'] as const;

/**
 * The same array with its items left unchecked: the request only has to be an array, and a
 * worker checks each item against the documented schema, reporting a bad one as a failed row.
 */
const itemsCheckedByWorker = <T extends TArray>(schema: T) => Type.Unsafe<unknown[]>({ ...schema, items: {} });

export const CustomersBulkUpdateBody = Type.Array(CustomerBulkItem, {
  minItems: 1,
  example: [
    { source_id: 'source_123', name: 'Bob Smith', metadata: { lang: 'en' } },
    { source_id: 'source_456', email: 'jane@example.com', address: { city: 'New York' } },
  ],
  description:
    'Customers to update, each found by `source_id` (and created when missing). Each is checked on its own: one that fails validation becomes a failed row of the async action.',
});
export type CustomersBulkUpdateBody = Static<typeof CustomersBulkUpdateBody>;
/** What POST /customers/bulk/async checks before accepting. */
export const CustomersBulkUpdateRequest = itemsCheckedByWorker(CustomersBulkUpdateBody);

export const CustomersMetadataUpdateBody = Type.Object(
  {
    source_ids: Type.Array(SourceId, {
      minItems: 1,
      description: 'Customers to update (created when missing). A bad source_id becomes a failed row of the async action.',
    }),
    metadata: MetadataInput,
  },
  {
    additionalProperties: false,
    title: 'CustomersMetadataUpdateInBulkRequestBody',
    example: { source_ids: ['source_123', 'source_456'], metadata: { vip: true, lang: 'en' } },
  },
);
export type CustomersMetadataUpdateBody = Static<typeof CustomersMetadataUpdateBody>;
/** What POST /customers/metadata/async checks before accepting. */
export const CustomersMetadataUpdateRequest = Type.Object(
  {
    ...CustomersMetadataUpdateBody.properties,
    source_ids: itemsCheckedByWorker(CustomersMetadataUpdateBody.properties.source_ids),
  },
  { additionalProperties: false, example: CustomersMetadataUpdateBody.example },
);

/** multipart/form-data: read as a stream by the handler, so documented here and checked there. */
export const CustomersImportCsvBody = Type.Object(
  {
    file: Type.String({
      format: 'binary',
      description:
        'The CSV file, header row first, at most 10 MiB. Columns (case-insensitive): Id, Source_id, Name, Email, Phone, Birthdate, Description, Address_line_1, Address_line_2, Address_City or City, Address_State or State, Address_Country or Country, Address_Postal_Code or Postal_Code; any other column goes into metadata, with true, false and numbers typed.',
    }),
  },
  {
    title: 'CustomersImportCSVRequestBody',
    example: { file: 'Source_id,Name,Email,City,vip\nsource_123,Bob Smith,bob@example.com,New York,true\n' },
  },
);

export const AsyncActionAccepted = Type.Object(
  {
    async_action_id: Type.String({
      description: 'The async action to follow with GET /v1/async-actions/{id}.',
      example: 'aa_0a875d56c805df6601',
    }),
  },
  { title: 'AsyncActions', example: { async_action_id: 'aa_0a875d56c805df6601' } },
);
export type AsyncActionAccepted = Static<typeof AsyncActionAccepted>;

export const AsyncActionFailure = Type.Object({
  source_id: Type.String({ description: 'The source_id of the input row, or an empty string when it has none.' }),
  row: Type.Integer({
    minimum: 1,
    description: 'The input row: 1 for the first array element, source_id or CSV data row (the header row is not counted).',
  }),
  reason: Type.String({ description: 'Why the row was not applied.', example: 'Property .email must be a valid email address' }),
});
export type AsyncActionFailure = Static<typeof AsyncActionFailure>;

/** Voucherify's shape of a failed row for bulk and metadata updates, beside `failed`. */
export const AsyncActionError = Type.Object({
  key: Type.String({ example: 'invalid_payload' }),
  message: Type.String({ example: 'Invalid payload' }),
  details: Type.String({ example: 'Property .email must be a valid email address' }),
  source_id: Type.String(),
});
export type AsyncActionError = Static<typeof AsyncActionError>;

export const AsyncActionResult = Type.Object(
  {
    message: Type.Optional(
      Type.String({
        description: 'A summary, once the action has finished.',
        example: '2 customer(s) imported successfully, 1 failed.',
      }),
    ),
    done_count: Type.Integer({ minimum: 0, description: 'Input rows applied: customers created or updated.' }),
    failed_count: Type.Integer({ minimum: 0, description: 'Input rows not applied, each listed in `failed`.' }),
    failed: Type.Array(AsyncActionFailure, { description: 'The rows not applied, in input order.' }),
    errors: Type.Optional(
      Type.Array(AsyncActionError, { description: 'BULK_UPDATE and METADATA_UPDATE: `failed` again, in this shape.' }),
    ),
    reports: Type.Optional(
      Type.Array(Type.String({ format: 'uri' }), {
        description:
          'BULK_UPDATE and METADATA_UPDATE: empty until the action ends, then the URL of its CSV report, one row per input item applied or failed (columns `row`, `source_id`, `status` created, updated or failed, `error_key`, `error_message`). The URL carries a signed token: whoever holds it can download the report, without an API key, until `reports_available_till`.',
      }),
    ),
    reports_available_till: Type.Optional(
      Type.String({
        format: 'date-time',
        description: 'BULK_UPDATE and METADATA_UPDATE, once ended: until when the report can be downloaded.',
      }),
    ),
  },
  { description: 'What the action has applied so far; final once the status is DONE or FAILED.' },
);
export type AsyncActionResult = Static<typeof AsyncActionResult>;

const asyncActionFields = {
  id: Type.String({ example: 'aa_0adad13d6f057f088e' }),
  type: StringEnum(asyncActionTypes),
  status: StringEnum(asyncActionStatuses, {
    description: 'ENQUEUED, then IN_PROGRESS, then DONE, or FAILED when the action could not be carried out to the end.',
  }),
  operation_status: StringEnum(operationStatuses, {
    description: 'SUCCESS once DONE (rows that failed are listed in the result), FAILED once FAILED, UNKNOWN until then.',
  }),
  created_at: Type.String({ format: 'date-time', example: '2022-06-23T11:21:45.578Z' }),
  updated_at: Type.String({ format: 'date-time', example: '2022-06-23T11:21:46.795Z' }),
  request_id: Type.String({ description: 'The id of the request that created the action.', example: 'v-0b45cee140c3c9b5ca' }),
  progress: Type.Integer({ minimum: 0, maximum: 100, description: 'Percent of the input processed.' }),
  processing_time: Type.Integer({ minimum: 0, description: 'Milliseconds since processing started, until it finished.' }),
  object: Type.Literal('async_action'),
};

export const AsyncActionSummary = Type.Object(asyncActionFields, { title: 'AsyncActionBase' });
export type AsyncActionSummary = Static<typeof AsyncActionSummary>;

const exampleSummary = {
  id: 'aa_0a875d56c805df6601',
  type: 'CUSTOMERS.IMPORT_CSV',
  status: 'DONE',
  operation_status: 'SUCCESS',
  created_at: '2022-06-23T11:21:45.578Z',
  updated_at: '2022-06-23T11:21:46.795Z',
  request_id: 'v-0b45cee140c3c9b5ca',
  progress: 100,
  processing_time: 1217,
  object: 'async_action',
};

export const AsyncAction = Type.Object(
  { ...asyncActionFields, result: AsyncActionResult },
  {
    title: 'AsyncAction',
    example: {
      ...exampleSummary,
      result: {
        message: '2 customer(s) imported successfully, 1 failed.',
        done_count: 2,
        failed_count: 1,
        failed: [{ source_id: 'bob', row: 3, reason: 'Property .email must be a valid email address' }],
      },
    },
  },
);
export type AsyncAction = Static<typeof AsyncAction>;

export const AsyncActionIdParams = Type.Object({
  asyncActionId: Type.String({ description: 'The id an accepting request answered, `aa_…`.' }),
});
export type AsyncActionIdParams = Static<typeof AsyncActionIdParams>;

export const AsyncActionListQuery = Type.Object(
  {
    limit: Type.Optional(PageLimit),
    end_date: Type.Optional(Timestamp({ description: 'Only actions created before this time.' })),
  },
  { additionalProperties: false },
);
export type AsyncActionListQuery = Static<typeof AsyncActionListQuery>;

export const AsyncActionList = Type.Object(
  {
    object: Type.Literal('list'),
    data_ref: Type.Literal('async_actions'),
    async_actions: Type.Array(AsyncActionSummary, { description: 'Newest first, without results.' }),
    has_more: Type.Boolean(),
  },
  {
    title: 'AsyncActionsListResponseBody',
    example: { object: 'list', data_ref: 'async_actions', async_actions: [exampleSummary], has_more: false },
  },
);
export type AsyncActionList = Static<typeof AsyncActionList>;
