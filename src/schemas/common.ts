import { Type, type Static, type TSchema } from '@sinclair/typebox';

/** `T | null`, written the OpenAPI 3.0 way (`nullable: true`) so errors name the real type. */
export const Nullable = <T extends TSchema>(schema: T) => Type.Unsafe<Static<T> | null>({ ...schema, nullable: true });

/** One of a fixed set of strings, as a plain `enum` (errors list the allowed values). */
export const StringEnum = <const T extends readonly string[]>(
  values: T,
  options: { default?: T[number]; description?: string } = {},
) => Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...options });

/** A calendar date `YYYY-MM-DD` that exists (no 2021-02-30) in years 1..9999. */
export const CalendarDate = (options: { description?: string } = {}) =>
  Type.String({ format: 'calendar-date', example: '2022-01-01', ...options });

/**
 * An ISO 8601 date, or a date-time with a zone (`Z`, `±HH:MM`, `±HHMM` or `±HH`) and 0 to 9
 * fractional digits (src/timestamps.ts reads it, truncating to the millisecond).
 */
export const Timestamp = (options: { description?: string } = {}) =>
  Type.String({ format: 'iso-timestamp', example: '2022-08-30T06:32:07.380Z', ...options });

/** A page size: 1..100, 10 when not given. */
export const PageLimit = Type.Integer({ minimum: 1, maximum: 100, default: 10, description: 'Page size, 1..100.' });

/** How many there are of something. */
export const Count = Type.Integer({ minimum: 0 });

/** The contract's error body. */
export const ErrorBody = Type.Object(
  {
    code: Type.Integer({ description: 'The HTTP status code.' }),
    key: Type.String({ description: 'Short string naming the kind of error.', example: 'not_found' }),
    message: Type.String({ example: 'Resource not found' }),
    details: Type.Optional(Type.String({ example: 'Cannot find customer with id cust_sehkNIi8Uq2qQuRqSr7xn4Z' })),
    request_id: Type.String({ example: 'v-0a885062c80375740f' }),
    resource_id: Type.Optional(Type.String()),
    resource_type: Type.Optional(Type.String()),
  },
  { title: 'Error' },
);
export type ErrorBody = Static<typeof ErrorBody>;

/** Response schemas for the error statuses a route can answer. */
export const errorResponses = (...statuses: number[]) => Object.fromEntries(statuses.map((status) => [status, ErrorBody]));
