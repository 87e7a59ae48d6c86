import type { Readable } from 'node:stream';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { errorResponses as errors } from '../schemas/common.js';
import { Export, ExportCreateBody, ExportGetQuery, ExportIdParams, ExportList, ExportListQuery } from '../schemas/export.js';

const tags = ['Exports'];

const routes: FastifyPluginAsyncTypebox = async (app) => {
  app.post(
    '/exports',
    {
      schema: {
        tags,
        summary: 'Create an export',
        description:
          'Queues the export of the live customers that `parameters.filters` matches (the filter language), in `parameters.order`, with the columns of `parameters.fields`. Answers SCHEDULED; a worker writes the file (IN_PROGRESS), and once DONE `result.url` downloads it. At most `EXPORT_MAX_PENDING` exports are unfinished at once: one more answers 429.',
        body: ExportCreateBody,
        response: { 200: Export, ...errors(400, 401, 413, 415, 429) },
      },
    },
    (request) => app.exports.create(request.body, request.id),
  );

  app.get(
    '/exports',
    {
      schema: {
        tags,
        summary: 'List exports',
        description: 'By pages of `limit`, newest first unless `order` says otherwise.',
        querystring: ExportListQuery,
        response: { 200: ExportList, ...errors(400, 401) },
      },
    },
    (request) => app.exports.list(request.query),
  );

  app.get(
    '/exports/:exportId',
    {
      config: { signedDownload: true },
      schema: {
        tags,
        summary: 'Get an export, or download its file',
        description:
          "Without `token`: the export (API key required). With `token` (the export's `result.url`, no API key needed): its CSV file, streamed, a header row of the fields then one row per customer; cells a spreadsheet would read as a formula start with `'`. A link that is forged, expired or of a deleted export answers 404.",
        params: ExportIdParams,
        querystring: ExportGetQuery,
        response: {
          200: {
            description: 'The export, or with `token` its CSV file',
            content: {
              'application/json': { schema: Export },
              'text/csv': {
                schema: Type.Unsafe<Readable>(
                  Type.String({ example: 'id,source_id,email\ncust_CSnYd37MXmrbS19XCrghjBsv,bob-1,bob@example.com\n' }),
                ),
              },
            },
          },
          ...errors(400, 401, 404),
        },
      },
    },
    async (request, reply) => {
      const { exportId } = request.params;
      const { token } = request.query;
      if (token === undefined) return app.exports.get(exportId);
      const file = await app.exports.download(exportId, token);
      return reply
        .type('text/csv; charset=utf-8')
        .header('content-disposition', `attachment; filename="${exportId}.csv"`)
        .send(file);
    },
  );

  app.delete(
    '/exports/:exportId',
    {
      schema: {
        tags,
        summary: 'Delete an export',
        description: 'Removes the export and its file: its download link answers 404 from then on.',
        params: ExportIdParams,
        response: { 204: Type.Null({ description: 'Deleted.' }), ...errors(401, 404) },
      },
    },
    async (request, reply) => {
      await app.exports.remove(request.params.exportId);
      return reply.code(204).send(null);
    },
  );
};

export default routes;
