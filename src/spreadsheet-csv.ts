import { stringify, type Stringifier } from 'csv-stringify';
import { sql, type Expression, type RawBuilder } from 'kysely';

/**
 * CSV files the service writes for people to open (async action reports, exports). A cell that
 * a spreadsheet would run as a formula (it starts with =, +, -, @, a tab or a carriage return)
 * gets a leading `'`, as OWASP's CSV injection guidance says. Stored values stay as they are:
 * the escape belongs to the file.
 */
const FORMULA_START_CHARACTERS = String.raw`=+\-@\t\r`;
const FORMULA_START = new RegExp(`^[${FORMULA_START_CHARACTERS}]`);

export const spreadsheetSafe = (value: string): string => (FORMULA_START.test(value) ? `'${value}` : value);

/**
 * The same escape in SQL, for files PostgreSQL writes itself (exports' COPY). The bracket
 * expression means the same to PostgreSQL's regular expressions as to JavaScript's.
 */
export const spreadsheetSafeSql = (value: Expression<string | null>): RawBuilder<string | null> =>
  sql`CASE WHEN ${value} ~ ${sql.raw(`'^[${FORMULA_START_CHARACTERS}]'`)} THEN '''' || ${value} ELSE ${value} END`;

/** A CSV stream with a header row of `columns`; write it objects with those keys. */
export const spreadsheetCsv = (columns: readonly string[]): Stringifier =>
  stringify({ header: true, columns: [...columns], cast: { string: spreadsheetSafe } });
