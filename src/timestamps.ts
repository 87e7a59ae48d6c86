/** Times and dates as the wire format writes them, and as clients may send them in queries. */

/** A millisecond-precision UTC timestamp in the wire format: `2022-08-30T06:32:07.380Z`. */
export const timestamp = (date = new Date()): string => date.toISOString();

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;
/**
 * A date-time as clients write it: seconds optional, 0 to 9 fractional digits, and a zone of
 * `Z`, `±HH:MM`, `±HHMM` or `±HH` (Python's `%z` writes `+0000`).
 */
const DATE_TIME =
  /^(\d{4}-\d{2}-\d{2})T([01]\d|2[0-3]):([0-5]\d)(?::([0-5]\d)(?:\.(\d{1,9}))?)?(?:(Z)|([+-])([01]\d|2[0-3])(?::?([0-5]\d))?)$/i;

/** A real calendar date in years 1..9999 (PostgreSQL has no year 0). */
export function isCalendarDate(value: string): boolean {
  return calendarDate(value) !== undefined;
}

/** Midnight UTC of a real calendar date in years 1..9999. */
function calendarDate(value: string): Date | undefined {
  const match = DATE.exec(value);
  if (!match) return undefined;
  const [year, month, day] = match.slice(1).map(Number) as [number, number, number];
  const date = new Date(0);
  // setUTCFullYear, unlike Date.UTC, takes years 0..99 as they are.
  date.setUTCFullYear(year, month - 1, day);
  const real = year >= 1 && date.getUTCFullYear() === year && date.getUTCMonth() === month - 1 && date.getUTCDate() === day;
  return real ? date : undefined;
}

/**
 * The instant an ISO 8601 date (midnight UTC) or date-time with a zone names, in the stored
 * precision: digits beyond the millisecond are truncated, never rounded (…59.9995Z is …59.999Z,
 * so a bound never moves into the next second). Undefined when it is not one, or falls outside
 * years 1..9999.
 */
export function parseIsoTimestamp(value: string): Date | undefined {
  if (DATE.test(value)) return calendarDate(value);
  const match = DATE_TIME.exec(value);
  const day = match && calendarDate(match[1]!);
  if (!match || !day) return undefined;
  const [, , hours, minutes, seconds = '0', fraction = '', utc, sign, offsetHours, offsetMinutes = '0'] = match;
  const milliseconds = Number(fraction.slice(0, 3).padEnd(3, '0'));
  const offset = utc ? 0 : (sign === '-' ? -1 : 1) * (Number(offsetHours) * 60 + Number(offsetMinutes));
  const instant = new Date(
    day.getTime() + ((Number(hours) * 60 + Number(minutes) - offset) * 60 + Number(seconds)) * 1000 + milliseconds,
  );
  const year = instant.getUTCFullYear();
  return year >= 1 && year <= 9999 ? instant : undefined;
}

/** An ISO 8601 date, or a date-time with a zone, whose instant falls in years 1..9999. */
export const isIsoTimestamp = (value: string): boolean => parseIsoTimestamp(value) !== undefined;

/** A query's date or date-time, already checked by its schema, as the timestamp the repositories compare. */
export function queryTimestamp(value: string): string {
  const instant = parseIsoTimestamp(value);
  if (instant === undefined)
    throw new TypeError(`Not an ISO 8601 date or date-time, which the schema should have refused: ${value}`);
  return timestamp(instant);
}
