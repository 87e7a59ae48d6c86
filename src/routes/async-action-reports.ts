import type { Readable } from 'node:stream';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from '@sinclair/typebox';
import { errorResponses as errors } from '../schemas/common.js';
import { REPORT_COLUMNS } from '../schemas/async-action.js';

/**
 * `GET /async-action-reports/:asyncActionId?token=…`: the CSV report that an ended bulk or
 * metadata update links to in `result.reports`. The signed token is the credential, so the
 * link works without an API key, from any process of the service, until `reports_available_till`;
 * a forged or expired link answers 404.
 */
const routes: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/async-action-reports/:asyncActionId',
    {
      schema: {
        tags: ['Async Actions'],
        summary: 'Download an async action report',
        description: `The link in an ended BULK_UPDATE or METADATA_UPDATE result's \`reports\`: a CSV file with a header row (${REPORT_COLUMNS.join(', ')}) and one row per input item in input order, \`status\` created, updated or failed. Cells a spreadsheet would read as a formula start with \`'\`.`,
        params: Type.Object({ asyncActionId: Type.String() }),
        querystring: Type.Object({ token: Type.String({ maxLength: 100 }) }),
        response: {
          200: { description: 'The report', content: { 'text/csv': { schema: Type.Unsafe<Readable>(Type.String()) } } },
          ...errors(400, 404),
        },
      },
    },
    async (request, reply) => {
      const report = await app.asyncActions.report(request.params.asyncActionId, request.query.token);
      return reply
        .type('text/csv; charset=utf-8')
        .header('content-disposition', `attachment; filename="${request.params.asyncActionId}-report.csv"`)
        .header('cache-control', 'no-store')
        .send(report);
    },
  );
};

export default routes;
