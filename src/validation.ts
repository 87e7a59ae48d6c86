import { Ajv, type ErrorObject, type Options, type SchemaValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { ApiError, invalidQuery } from './errors.js';
import { isCalendarDate, isIsoTimestamp } from './timestamps.js';

// ajv-formats is CommonJS; under NodeNext its default export arrives wrapped.
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

/** PostgreSQL text cannot hold NUL, nor can UTF-8 encode a lone surrogate: such text cannot be stored. */
export const isStorableText = (text: string): boolean => !/\0|\p{Cs}/u.test(text);

export const UNSTORABLE_TEXT = 'contains a NUL character or a lone surrogate, which cannot be stored';

/** Keywords the schemas carry for documentation and error messages, which validation ignores. */
const annotationKeywords = ['example', 'errorMessage'];

function createAjv(options: Options): Ajv {
  const ajv = new Ajv({ allErrors: false, verbose: true, strict: true, ...options });
  addFormats(ajv, { mode: 'full', formats: ['email', 'date-time'] });
  ajv.addFormat('calendar-date', { type: 'string', validate: isCalendarDate });
  ajv.addFormat('iso-timestamp', { type: 'string', validate: isIsoTimestamp });
  ajv.addKeyword({ keyword: annotationKeywords });
  const maxJsonBytes: SchemaValidateFunction = (limit: number, data: unknown) => {
    if (Buffer.byteLength(JSON.stringify(data)) <= limit) return true;
    maxJsonBytes.errors = [{ keyword: 'maxJsonBytes', message: `must be at most ${limit} bytes serialized`, params: { limit } }];
    return false;
  };
  ajv.addKeyword({ keyword: 'maxJsonBytes', type: 'object', schemaType: 'number', errors: true, validate: maxJsonBytes });
  return ajv;
}

/** JSON bodies: no type coercion, no defaults filled in, unknown properties rejected by the schemas. */
export const bodyAjv = createAjv({ coerceTypes: false, useDefaults: false, removeAdditional: false });

/** Query strings and path parameters arrive as text: numbers are parsed, defaults filled in. */
export const parameterAjv = createAjv({ coerceTypes: true, useDefaults: true, removeAdditional: false });

const formatMessages: Record<string, string> = {
  'calendar-date': 'must be a valid date in the format YYYY-MM-DD',
  'iso-timestamp': 'cannot be recognized as a ISO-8601 compliant date',
  'date-time': 'must be a date-time',
  email: 'must be a valid email address',
};

/** `/address/city` → `.address.city` (JSON pointer segments unescaped). */
const propertyPath = (instancePath: string): string =>
  instancePath
    .split('/')
    .slice(1)
    .map((segment) => `.${segment.replace(/~1/g, '/').replace(/~0/g, '~')}`)
    .join('');

/**
 * One sentence naming the property at fault, in Voucherify's style: `Property .email must be string`.
 * `subject` names the value itself when the fault is in it as a whole.
 */
export function describeValidationError(errors: readonly ErrorObject[], subject = 'The request body'): string {
  // A union reports every branch's failure; the deepest union that carries its own message explains best.
  const union = errors
    .filter((error) => error.keyword === 'anyOf' && typeof error.parentSchema?.errorMessage === 'string')
    .sort((a, b) => b.instancePath.length - a.instancePath.length)[0];
  const error = union ?? errors[0];
  if (!error) return 'Invalid value';
  const path = propertyPath(error.instancePath);
  switch (error.keyword) {
    case 'required':
      return `Property ${path}.${String(error.params.missingProperty)} is required`;
    case 'additionalProperties':
      return `Property ${path}.${String(error.params.additionalProperty)} is not allowed`;
    case 'anyOf':
      return `Property ${path} ${String(error.parentSchema?.errorMessage)}`;
    case 'format':
      return `Property ${path} ${formatMessages[String(error.params.format)] ?? error.message}`;
    case 'enum':
      return `Property ${path} must be one of: ${(error.params.allowedValues as unknown[]).join(', ')}`;
  }
  if (error.propertyName !== undefined) {
    return `Property ${path} has an invalid key "${error.propertyName}": keys ${error.message}`;
  }
  return path === '' ? `${subject} ${error.message}` : `Property ${path} ${error.message}`;
}

/** Turns a failed schema check into the contract's 400 for that part of the request. */
export function validationError(errors: readonly ErrorObject[], part: string): ApiError {
  const details = describeValidationError(errors);
  return part === 'body' ? new ApiError(400, { details }) : invalidQuery(details);
}
