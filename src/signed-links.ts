import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';

/**
 * The secrets the links this service hands out are signed with (COCKPIT_SECRET and
 * COCKPIT_PREVIOUS_SECRETS): the current one signs; it and the previous ones verify, so links
 * signed before a rotation keep working until they expire.
 */
export interface LinkSecrets {
  current: string;
  previous: readonly string[];
}

/** The id a token names its key by: 8 base64url characters derived from the secret, which they do not reveal. */
const keyId = (secret: string): string =>
  Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), 'link-key-id', 6)).toString('base64url');

const TOKEN = /^([\w-]{8})\.(\d{1,15})\.([\w-]{43})$/;

/**
 * The one rule for the tokens of links that open something without an API key (cockpit pages,
 * async action reports): `<key id>.<expiry>.<signature>`, the expiry in epoch milliseconds and
 * the signature an HMAC-SHA256 of `<subject>.<expiry>` (base64url). Each use (`purpose`) signs
 * with its own key derived from the secret, so a token of one use never passes for another's.
 */
export function createLinkSigner(secrets: LinkSecrets, purpose: string) {
  const keyOf = (secret: string) => ({
    id: keyId(secret),
    key: Buffer.from(hkdfSync('sha256', secret, Buffer.alloc(0), purpose, 32)),
  });
  const signing = keyOf(secrets.current);
  // The current secret wins should a previous one share its key id.
  const verifying = new Map([...secrets.previous.map(keyOf).reverse(), signing].map(({ id, key }) => [id, key]));
  const signature = (key: Buffer, subject: string, expiresAt: number) =>
    createHmac('sha256', key).update(`${subject}.${expiresAt}`).digest('base64url');

  return {
    /** A token for `subject` that expires at `expiresAt` (epoch milliseconds), signed with the current secret. */
    sign: (subject: string, expiresAt: number): string =>
      `${signing.id}.${expiresAt}.${signature(signing.key, subject, expiresAt)}`,

    /**
     * The expiry `token` was signed with for `subject`, by the current or a previous secret, or
     * undefined for a token this service did not sign (forged, for another subject, or of a
     * secret no longer configured). Whether that expiry has passed is the caller's to check.
     */
    signedExpiry(subject: string, token: string): number | undefined {
      const match = TOKEN.exec(token);
      const key = match && verifying.get(match[1]!);
      if (!match || !key) return undefined;
      const expiresAt = Number(match[2]);
      const expected = Buffer.from(signature(key, subject, expiresAt));
      const given = Buffer.from(match[3]!);
      return given.length === expected.length && timingSafeEqual(given, expected) ? expiresAt : undefined;
    },
  };
}

/** The expiry a token of this rule names (epoch milliseconds), signed or not; undefined for anything else. */
export function tokenExpiry(token: string): number | undefined {
  const match = TOKEN.exec(token);
  return match ? Number(match[2]) : undefined;
}

export type LinkSigner = ReturnType<typeof createLinkSigner>;

/**
 * Links that download a file without an API key until it expires (async action reports,
 * exports): `<publicUrl><path of the id>?token=…`, the token signed for this `purpose` with the
 * id and the expiry.
 */
export function createDownloadLinks(
  { publicUrl, secrets }: { publicUrl: string; secrets: LinkSecrets },
  purpose: string,
  pathOf: (id: string) => string,
) {
  const signer = createLinkSigner(secrets, purpose);
  return {
    /** The link of the file of `id`, valid until `availableTill`. */
    url(id: string, availableTill: string): string {
      const token = signer.sign(id, Date.parse(availableTill));
      return `${publicUrl}${pathOf(encodeURIComponent(id))}?token=${token}`;
    },

    /** The expiry that `token` was signed with for `id`, or undefined for a token this service did not sign. */
    signedExpiry: (id: string, token: string): number | undefined => signer.signedExpiry(id, token),
  };
}

export type DownloadLinks = ReturnType<typeof createDownloadLinks>;
