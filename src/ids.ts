import { customAlphabet } from 'nanoid';

// nanoid draws from a pooled CSPRNG buffer and rejects out-of-range bytes instead of taking
// them modulo the alphabet size, so every character is equally likely.
const alphanumeric = customAlphabet('0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz', 24);
const hex = customAlphabet('0123456789abcdef', 18);

/** `cust_` + 24 of [A-Za-z0-9]. */
export const newCustomerId = (): string => `cust_${alphanumeric()}`;

/** `v-` + 18 lowercase hex digits. */
export const newRequestId = (): string => `v-${hex()}`;

/** `evcus_` + 18 lowercase hex digits: a customer activity event. */
export const newEventId = (): string => `evcus_${hex()}`;

/** `del_` + 24 of [A-Za-z0-9]: a permanent deletion. */
export const newPermanentDeletionId = (): string => `del_${alphanumeric()}`;

/** `aa_` + 18 lowercase hex digits: an async action. */
export const newAsyncActionId = (): string => `aa_${hex()}`;

/** `seg_` + 24 of [A-Za-z0-9]: a customer segment. */
export const newSegmentId = (): string => `seg_${alphanumeric()}`;

/** `ms_` + 24 of [A-Za-z0-9]: a metadata schema. */
export const newMetadataSchemaId = (): string => `ms_${alphanumeric()}`;

/** `wh_` + 24 of [A-Za-z0-9]: a webhook endpoint. */
export const newWebhookId = (): string => `wh_${alphanumeric()}`;

/** `whd_` + 24 of [A-Za-z0-9]: an entry of a webhook's delivery log. */
export const newWebhookDeliveryId = (): string => `whd_${alphanumeric()}`;

/** `exp_` + 24 of [A-Za-z0-9]: a customer export. */
export const newExportId = (): string => `exp_${alphanumeric()}`;
