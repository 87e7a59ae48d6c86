import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';

/**
 * The links of async action reports. A link can be used by whoever holds it, without an API key,
 * until the report expires: its token is the expiry (epoch milliseconds) and an HMAC-SHA256 of
 * the action id and that expiry. The key is derived from the service's link secret
 * (COCKPIT_SECRET) for this one use, so a report token can never pass for a cockpit token.
 */
export function createReportLinks({ publicUrl, secret }: { publicUrl: string; secret: string }) {
  const key = Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), 'async-action-report-links', 32));
  const signature = (actionId: string, expiresAt: number) =>
    createHmac('sha256', key).update(`${actionId}.${expiresAt}`).digest('base64url');

  return {
    /** The link of an action's report, valid until `availableTill`. */
    url(actionId: string, availableTill: string): string {
      const expiresAt = Date.parse(availableTill);
      const token = `${expiresAt}.${signature(actionId, expiresAt)}`;
      return `${publicUrl}/async-action-reports/${encodeURIComponent(actionId)}?token=${token}`;
    },

    /** The expiry that `token` was signed with for the action, or undefined for a token this service did not sign. */
    signedExpiry(actionId: string, token: string): number | undefined {
      const match = /^(\d{1,15})\.([\w-]{43})$/.exec(token);
      if (!match) return undefined;
      const expiresAt = Number(match[1]);
      const expected = Buffer.from(signature(actionId, expiresAt));
      const given = Buffer.from(match[2]!);
      return given.length === expected.length && timingSafeEqual(given, expected) ? expiresAt : undefined;
    },
  };
}

export type ReportLinks = ReturnType<typeof createReportLinks>;
