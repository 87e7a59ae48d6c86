import multipart from '@fastify/multipart';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { TSchema } from '@sinclair/typebox';
import type { FastifyRouteSchemaDef } from 'fastify/types/schema.js';
import { ApiError, tooManyMultipartFields } from '../errors.js';
import {
  AsyncActionAccepted,
  CustomersBulkUpdateBody,
  CustomersBulkUpdateRequest,
  CustomersImportCsvBody,
  CustomersMetadataUpdateBody,
  CustomersMetadataUpdateRequest,
  CSV_UPLOAD_LIMITS,
  MAX_ASYNC_BODY_BYTES,
} from '../schemas/async-action.js';
import { errorResponses as errors } from '../schemas/common.js';
import { bodyAjv, parameterAjv } from '../validation.js';

const tags = ['Customers'];

/**
 * Checks the body against `accepted` (what the request must get right to be accepted) instead
 * of the schema it documents: the rows inside are checked one by one when the job runs.
 */
const bodyCheckedAs =
  (accepted: TSchema | undefined) =>
  <S>({ schema, httpPart }: FastifyRouteSchemaDef<S>) =>
    httpPart !== 'body' ? parameterAjv.compile(schema as object) : accepted ? bodyAjv.compile(accepted) : () => true;

const MISSING_FILE = 'The request must carry the CSV file in the multipart/form-data field `file`';

/** The asynchronous customer writes: each answers 202 with the async action that carries it out. */
const routes: FastifyPluginAsyncTypebox = async (app) => {
  app.post(
    '/customers/bulk/async',
    {
      bodyLimit: MAX_ASYNC_BODY_BYTES,
      validatorCompiler: bodyCheckedAs(CustomersBulkUpdateRequest),
      schema: {
        tags,
        summary: 'Update customers in bulk',
        description:
          'Queues an async action (CUSTOMERS.BULK_UPDATE) that updates each customer found by `source_id` with PUT semantics, or creates it when missing. At most 10 MiB. Each customer is validated on its own: one that fails becomes a failed row of the action, the others are applied.',
        body: CustomersBulkUpdateBody,
        response: { 202: AsyncActionAccepted, ...errors(400, 401, 413, 415) },
      },
    },
    async (request, reply) => reply.code(202).send(await app.asyncActions.acceptBulkUpdate(request.body, request.id)),
  );

  app.post(
    '/customers/metadata/async',
    {
      bodyLimit: MAX_ASYNC_BODY_BYTES,
      validatorCompiler: bodyCheckedAs(CustomersMetadataUpdateRequest),
      schema: {
        tags,
        summary: "Update customers' metadata in bulk",
        description:
          "Queues an async action (CUSTOMERS.METADATA_UPDATE) that merges `metadata` into the metadata of each customer named in `source_ids`, creating the missing ones. At most 10 MiB. A merge that would break the metadata limits fails that customer's row.",
        body: CustomersMetadataUpdateBody,
        response: { 202: AsyncActionAccepted, ...errors(400, 401, 413, 415) },
      },
    },
    async (request, reply) => reply.code(202).send(await app.asyncActions.acceptMetadataUpdate(request.body, request.id)),
  );

  // multipart/form-data only here: the file is streamed, never held whole.
  await app.register(async (csvScope) => {
    csvScope.removeContentTypeParser('application/json');
    // Only the file may be large: a few small fields at most, so that none can fill the memory.
    // Busboy is let to read one field more than allowed: a body over the limit then shows in the
    // fields before the file, and is refused as that (otherwise busboy cuts the file off, which
    // looks like a body that breaks off).
    await csvScope.register(multipart, { limits: { ...CSV_UPLOAD_LIMITS, fields: CSV_UPLOAD_LIMITS.fields + 1 } });

    csvScope.post(
      '/customers/importCSV',
      {
        validatorCompiler: bodyCheckedAs(undefined),
        // An Idempotency-Key's fingerprint counts the file's content (a client picks a new boundary on each try).
        config: { idempotency: 'file' },
        schema: {
          tags,
          summary: 'Import customers from a CSV file',
          description:
            'Queues an async action (CUSTOMERS.IMPORT_CSV) that creates or updates (by `source_id`, PUT semantics) one customer per data row, or updates the customer of the `Id` column. An empty cell sets nothing. Bad rows are reported with their number and never stop the import. 400 for an empty file or one without a header row, 413 over 10 MiB.',
          consumes: ['multipart/form-data'],
          body: CustomersImportCsvBody,
          response: { 202: AsyncActionAccepted, ...errors(400, 401, 413, 415) },
        },
      },
      async (request, reply) => {
        // A request that says it is too large is refused before it is read; one sent in chunks
        // is cut off once its file passes 10 MiB.
        if (Number(request.headers['content-length']) > MAX_ASYNC_BODY_BYTES) {
          throw new ApiError(413, { details: 'Request body is too large' });
        }
        if (!request.isMultipart()) throw new ApiError(400, { details: MISSING_FILE });
        // Without a boundary, the body cannot be split into parts at all.
        if (!/;\s*boundary=/i.test(request.headers['content-type'] ?? '')) {
          throw new ApiError(400, { details: 'The multipart/form-data body has no boundary in its Content-Type' });
        }
        const part = await request.file();
        if (part?.fieldname !== 'file') {
          part?.file.resume();
          throw new ApiError(400, { details: MISSING_FILE });
        }
        const fields = Object.values(part.fields)
          .flat()
          .filter((value) => value?.type === 'field').length;
        if (fields > CSV_UPLOAD_LIMITS.fields) {
          part.file.resume();
          throw tooManyMultipartFields();
        }
        return reply
          .code(202)
          .send(await app.asyncActions.acceptCsvImport(part.file, request.id, request.idempotency?.fileDigest));
      },
    );
  });
};

export default routes;
