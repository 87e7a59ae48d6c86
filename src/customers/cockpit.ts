import { createLinkSigner, tokenExpiry, type LinkSecrets } from '../signed-links.js';
import type { Customer } from '../schemas/customer.js';

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;

export interface CockpitLinkOptions {
  /** Base of the cockpit URLs, without a trailing slash. */
  publicUrl: string;
  /** Sign (the current one) and verify (all) the tokens of the links. */
  secrets: LinkSecrets;
  /** How long a link handed out now works at least (COCKPIT_LINK_TTL_HOURS). */
  ttlHours: number;
}

/**
 * The links of customers' cockpit pages (`assets.cockpit_url`): `<publicUrl>/cockpit/<id>?token=…`,
 * the token signed (src/signed-links.ts) with the customer id and an expiry. The expiry is the
 * first UTC midnight at least `ttlHours` away, so a customer's link is the same all day long
 * (responses stay comparable and cacheable) and works for `ttlHours` to `ttlHours` + 24 hours.
 *
 * Revoking a customer's links (`revokedThrough`, stored with the customer) names the latest
 * expiry that no longer opens: every link handed out until then. Links handed out afterwards
 * expire later, if only by a millisecond on the day of the revocation, so the rule needs no
 * list of revoked tokens and a forged token is refused before the database is asked.
 */
export function createCockpitLinks({ publicUrl, secrets, ttlHours }: CockpitLinkOptions) {
  const signer = createLinkSigner(secrets, 'cockpit-links');
  /** The expiry of the customer's link handed out at `now` (epoch milliseconds). */
  const expiryAt = (revokedThrough: string | null | undefined, now: number): number => {
    const lifetime = Math.ceil((now + ttlHours * HOUR_MS) / DAY_MS) * DAY_MS;
    return revokedThrough ? Math.max(lifetime, Date.parse(revokedThrough) + 1) : lifetime;
  };
  return {
    /** The link handed out at `now` for the customer, whose links are revoked through `revokedThrough`. */
    url(customerId: string, revokedThrough?: string | null, now = Date.now()): string {
      const token = signer.sign(customerId, expiryAt(revokedThrough, now));
      return `${publicUrl}/cockpit/${encodeURIComponent(customerId)}?token=${token}`;
    },

    /**
     * The expiry of `token` when it was signed for this customer id by a configured secret and
     * has not expired at `now`; undefined otherwise. Whether the customer revoked it is `opens`.
     */
    unexpired(customerId: string, token: string, now = Date.now()): number | undefined {
      const expiresAt = signer.signedExpiry(customerId, token);
      return expiresAt !== undefined && now < expiresAt ? expiresAt : undefined;
    },

    /** Whether a link of this unexpired expiry opens a page whose links are revoked through `revokedThrough`. */
    opens: (expiresAt: number, revokedThrough: string | null | undefined): boolean =>
      !revokedThrough || expiresAt > Date.parse(revokedThrough),

    /** What a revocation at `now` stores: the expiry of every link handed out until then. */
    revocationAt: (revokedThrough: string | null | undefined, now = Date.now()): string =>
      new Date(expiryAt(revokedThrough, now)).toISOString(),
  };
}

export type CockpitLinks = ReturnType<typeof createCockpitLinks>;

/** When a cockpit link this service handed out expires (epoch milliseconds). */
export const cockpitLinkExpiry = (url: string): number | undefined => tokenExpiry(new URL(url).searchParams.get('token') ?? '');

const htmlEscapes: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text made safe for HTML content and quoted attribute values. */
export const escapeHtml = (value: string): string => value.replace(/[&<>"']/g, (character) => htmlEscapes[character]!);

const STYLE = `
  body { font: 15px/1.5 system-ui, sans-serif; margin: 2rem auto; max-width: 46rem; padding: 0 1rem; color: #1d2433; }
  h1 { font-size: 1.5rem; margin-bottom: .25rem; }
  .id { color: #5c6370; font-family: ui-monospace, monospace; margin-top: 0; }
  dl { display: grid; grid-template-columns: max-content 1fr; gap: .4rem 1.5rem; }
  dt { color: #5c6370; }
  dd { margin: 0; overflow-wrap: anywhere; }
  pre { background: #f3f4f6; padding: .75rem; border-radius: 4px; overflow: auto; margin: 0; }
`;

function page(title: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>${escapeHtml(title)}</title>
<style>${STYLE}</style>
</head>
<body>
${body}
</body>
</html>
`;
}

const row = (label: string, value: string | undefined): string =>
  value === undefined ? '' : `<dt>${escapeHtml(label)}</dt><dd>${escapeHtml(value)}</dd>`;

/** The read-only profile page of one customer; every value escaped. */
export function cockpitPage(customer: Customer): string {
  const { address } = customer;
  const addressText = address
    ? [address.line_1, address.line_2, address.postal_code, address.city, address.state, address.country]
        .filter((part) => part !== undefined)
        .join(', ')
    : undefined;
  const metadata = Object.keys(customer.metadata).length > 0 ? JSON.stringify(customer.metadata, null, 2) : undefined;
  const title = customer.name ?? customer.source_id ?? customer.id;
  return page(
    title,
    `<h1>${escapeHtml(title)}</h1>
<p class="id">${escapeHtml(customer.id)}</p>
<dl>
${[
  row('Source id', customer.source_id),
  row('Name', customer.name),
  row('Email', customer.email),
  row('Phone', customer.phone),
  row('Birthdate', customer.birthdate),
  row('Description', customer.description),
  row('Address', addressText),
  row('Created', customer.created_at),
  row('Updated', customer.updated_at),
]
  .filter(Boolean)
  .join('\n')}
${metadata === undefined ? '' : `<dt>Metadata</dt><dd><pre>${escapeHtml(metadata)}</pre></dd>`}
</dl>`,
  );
}

/** What a forged, foreign or stale link shows: nothing about whether the customer exists. */
export const cockpitNotFoundPage = (): string =>
  page('Not found', '<h1>Not found</h1>\n<p>This link does not lead to a customer profile.</p>');

/** What the page shows while the database is out of reach. */
export const cockpitUnavailablePage = (): string =>
  page('Unavailable', '<h1>Unavailable</h1>\n<p>The profile cannot be shown right now: try again in a moment.</p>');

/** What an unexpected failure shows, with the request id to quote. */
export const cockpitErrorPage = (requestId: string): string =>
  page('Something went wrong', `<h1>Something went wrong</h1>\n<p>Request id: ${escapeHtml(requestId)}</p>`);
