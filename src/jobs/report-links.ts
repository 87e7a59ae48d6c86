import { createLinkSigner, type LinkSecrets } from '../signed-links.js';

/**
 * The links of async action reports. A link can be used by whoever holds it, without an API key,
 * until the report expires: its token is signed (src/signed-links.ts) with the action id and the
 * report's expiry, by a key derived from the service's link secrets for this one use, so a report
 * token can never pass for a cockpit token, and a rotation of COCKPIT_SECRET keeps it working.
 */
export function createReportLinks({ publicUrl, secrets }: { publicUrl: string; secrets: LinkSecrets }) {
  const signer = createLinkSigner(secrets, 'async-action-report-links');
  return {
    /** The link of an action's report, valid until `availableTill`. */
    url(actionId: string, availableTill: string): string {
      const token = signer.sign(actionId, Date.parse(availableTill));
      return `${publicUrl}/async-action-reports/${encodeURIComponent(actionId)}?token=${token}`;
    },

    /** The expiry that `token` was signed with for the action, or undefined for a token this service did not sign. */
    signedExpiry: (actionId: string, token: string): number | undefined => signer.signedExpiry(actionId, token),
  };
}

export type ReportLinks = ReturnType<typeof createReportLinks>;
