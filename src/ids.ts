import { randomBytes } from 'node:crypto';
import { customAlphabet } from 'nanoid';

// nanoid draws from the CSPRNG and rejects out-of-range bytes instead of taking them
// modulo the alphabet size, so every character is equally likely.
const alphanumeric = customAlphabet('0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz', 24);

/** `cust_` + 24 of [A-Za-z0-9]. */
export const newCustomerId = (): string => `cust_${alphanumeric()}`;

/** `v-` + 18 lowercase hex digits. */
export const newRequestId = (): string => `v-${randomBytes(9).toString('hex')}`;

/** `aa_` + 18 lowercase hex digits: an async action. */
export const newAsyncActionId = (): string => `aa_${randomBytes(9).toString('hex')}`;
