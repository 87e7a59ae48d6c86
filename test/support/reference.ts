import { readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { expect } from 'vitest';

const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

/** OpenAPI 3.0's `nullable: true` as plain JSON Schema, so ajv can check Voucherify's documents. */
export function withNullAllowed(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(withNullAllowed);
  if (node === null || typeof node !== 'object') return node;
  const { nullable, example: _example, examples: _examples, ...rest } = node as Record<string, unknown>;
  const converted = Object.fromEntries(Object.entries(rest).map(([key, value]) => [key, withNullAllowed(value)]));
  return nullable === true ? { anyOf: [{ type: 'null' }, converted] } : converted;
}

const ajv = new Ajv({ strict: false, allErrors: true });
addFormats(ajv);
for (const [id, file] of [
  ['customers', 'voucherify-customers.openapi.json'],
  ['async-actions', 'voucherify-async-actions.openapi.json'],
  ['segments', 'voucherify-segments.openapi.json'],
  ['exports', 'voucherify-exports.openapi.json'],
  ['metadata-schemas', 'voucherify-metadata-schemas.openapi.json'],
  ['management-metadata-schemas', 'voucherify-management-metadata-schemas.openapi.json'],
] as const) {
  const document = JSON.parse(readFileSync(new URL(`../../docs/reference/${file}`, import.meta.url), 'utf8'));
  ajv.addSchema({ $id: id, components: withNullAllowed(document.components) });
}

/** Asserts that a body matches a schema of Voucherify's reference (e.g. `CustomersGetResponseBody`, `Error`). */
export function expectReferenceSchema(schemaName: string, body: unknown, document = 'customers'): void {
  const validate = ajv.getSchema(`${document}#/components/schemas/${schemaName}`);
  if (!validate) throw new Error(`No schema ${schemaName} in the ${document} reference`);
  const valid = validate(body);
  expect(validate.errors ?? [], `${schemaName}: ${JSON.stringify(body)}`).toEqual([]);
  expect(valid).toBe(true);
}
