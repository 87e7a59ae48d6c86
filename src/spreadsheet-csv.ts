import { stringify, type Stringifier } from 'csv-stringify';

/**
 * CSV files the service writes for people to open (async action reports, exports). A cell that
 * a spreadsheet would run as a formula (it starts with =, +, -, @, a tab or a carriage return)
 * gets a leading `'`, as OWASP's CSV injection guidance says. Stored values stay as they are:
 * the escape belongs to the file.
 */
const FORMULA_START = /^[=+\-@\t\r]/;

export const spreadsheetSafe = (value: string): string => (FORMULA_START.test(value) ? `'${value}` : value);

/** A CSV stream with a header row of `columns`; write it objects with those keys. */
export const spreadsheetCsv = (columns: readonly string[]): Stringifier =>
  stringify({ header: true, columns: [...columns], cast: { string: spreadsheetSafe } });
