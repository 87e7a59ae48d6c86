import { createDownloadLinks, type LinkSecrets } from '../signed-links.js';

/**
 * The links of async action reports. A link can be used by whoever holds it, without an API key,
 * until the report expires: its token is signed (src/signed-links.ts) with the action id and the
 * report's expiry, by a key derived from the service's link secrets for this one use, so a report
 * token can never pass for a cockpit token, and a rotation of COCKPIT_SECRET keeps it working.
 */
export const createReportLinks = (options: { publicUrl: string; secrets: LinkSecrets }) =>
  createDownloadLinks(options, 'async-action-report-links', (actionId) => `/async-action-reports/${actionId}`);

export type ReportLinks = ReturnType<typeof createReportLinks>;
