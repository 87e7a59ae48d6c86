import type { Customer } from '../schemas/customer.js';
import { cockpitLinkExpiry } from './cockpit.js';

/**
 * ETags of customers. A customer's version is its id and the time of its last change: every
 * write sets updated_at strictly later than before (src/customers/repository/writes.ts), so the
 * pair changes whenever the stored customer does. The representation also carries a cockpit
 * link that is replaced once a day (its expiry, src/customers/cockpit.ts), so the tag names that
 * too: `"<id>.<that time in ms, base 36>.<the link's expiry in ms, base 36>"`, and a cache
 * revalidating with If-None-Match gets the new link instead of a 304 for an expiring one.
 * If-Match compares the stored version alone: a tag of yesterday's link (or of before links
 * expired, without the third part) still names the version it was read at.
 */

/** A version of a customer, as a precondition names it: the write applies only to that version. */
export interface CustomerVersion {
  id: string;
  /** The time of its last change, in the wire format. */
  changedAt: string;
}

export function etagOf({
  id,
  created_at,
  updated_at,
  assets,
}: Pick<Customer, 'id' | 'created_at' | 'updated_at' | 'assets'>): string {
  const linkExpiry = cockpitLinkExpiry(assets.cockpit_url) ?? 0;
  return `"${id}.${Date.parse(updated_at ?? created_at).toString(36)}.${linkExpiry.toString(36)}"`;
}

/** The entity tags of an If-Match or If-None-Match header, `*` as itself. */
const tagsOf = (header: string): string[] =>
  header
    .split(',')
    .map((tag) => tag.trim())
    .filter((tag) => tag !== '');

const STRONG_TAG = /^"([^".]+)\.([0-9a-z]{1,12})(?:\.[0-9a-z]{1,12})?"$/;

function versionOf(tag: string): CustomerVersion | undefined {
  const match = STRONG_TAG.exec(tag);
  if (!match) return undefined;
  const time = new Date(parseInt(match[2]!, 36));
  return Number.isNaN(time.getTime()) ? undefined : { id: match[1]!, changedAt: time.toISOString() };
}

/**
 * The versions an If-Match header accepts; undefined when any version will do (no header, or
 * `*`: the write needs the customer to exist, as it does without the header). Weak or unknown
 * tags match no version (If-Match compares strongly), so a header of only those fails the write.
 */
export function ifMatchVersions(header: string | undefined): CustomerVersion[] | undefined {
  if (header === undefined) return undefined;
  const tags = tagsOf(header);
  if (tags.includes('*')) return undefined;
  return tags.flatMap((tag) => versionOf(tag) ?? []);
}

/** Whether an If-None-Match header names this ETag (weakly compared, as GET does) or is `*`. */
export function noneMatchHits(header: string | undefined, etag: string): boolean {
  if (header === undefined) return false;
  return tagsOf(header).some((tag) => tag === '*' || tag.replace(/^W\//, '') === etag);
}
