import { Readable } from 'node:stream';
import { parse, type Options } from 'csv-parse';
import { parse as parseSync } from 'csv-parse/sync';
import { ApiError } from '../errors.js';
import { MAX_METADATA_KEY_LENGTH, type Address } from '../schemas/customer.js';

/**
 * The CSV format of POST /customers/importCSV: a header row, then one customer per row.
 * Standard columns are matched case-insensitively, in both spellings of the address ones;
 * every other column is a metadata key. An empty cell sets nothing.
 */

type CustomerColumn = 'id' | 'source_id' | 'name' | 'email' | 'phone' | 'birthdate' | 'description';

/** Where a column's values go. */
type Target =
  { kind: 'field'; field: CustomerColumn } | { kind: 'address'; line: keyof Address } | { kind: 'metadata'; key: string };

const field = (name: CustomerColumn): Target => ({ kind: 'field', field: name });
const address = (line: keyof Address): Target => ({ kind: 'address', line });

/** The standard columns by lower-cased name. */
const STANDARD_COLUMNS: Record<string, Target> = {
  id: field('id'),
  source_id: field('source_id'),
  name: field('name'),
  email: field('email'),
  phone: field('phone'),
  birthdate: field('birthdate'),
  description: field('description'),
  address_line_1: address('line_1'),
  address_line_2: address('line_2'),
  address_city: address('city'),
  city: address('city'),
  address_state: address('state'),
  state: address('state'),
  address_country: address('country'),
  country: address('country'),
  address_postal_code: address('postal_code'),
  postal_code: address('postal_code'),
};

/** Parser options for the whole file: bad rows are reported, never fatal. */
const CSV_OPTIONS: Options = {
  bom: true,
  skip_empty_lines: true,
  // A row with the wrong number of fields is reported by the importer, with its number.
  relax_column_count: true,
  // A stray quote inside a field is kept as a character.
  relax_quotes: true,
  // What cannot be parsed at all (a quote never closed) is skipped and reported through on_skip.
  skip_records_with_error: true,
};

/** A column name as a description can quote it. */
const quoted = (name: string) => JSON.stringify(name.length > 40 ? `${name.slice(0, 40)}…` : name);

const badHeader = (problem: string) => new ApiError(400, { details: `The CSV file has no valid header row: ${problem}` });

/** The targets of a header row's columns, or a 400 explaining why it is not a header row. */
export function mapHeader(header: readonly string[]): Target[] {
  const targets: Target[] = [];
  const columnOf = new Map<string, string>();
  for (const [index, raw] of header.entries()) {
    const name = raw.trim();
    if (name === '') throw badHeader(`column ${index + 1} has no name`);
    // Own properties only: a column named "constructor" or "toString" is a metadata key, not the object's method.
    const standard = name.toLowerCase();
    const target: Target = Object.hasOwn(STANDARD_COLUMNS, standard)
      ? STANDARD_COLUMNS[standard]!
      : { kind: 'metadata', key: name };
    if (target.kind === 'metadata' && name === '__proto__') {
      throw badHeader('the column name "__proto__" cannot be a metadata key (JSON bodies cannot carry it either)');
    }
    if (target.kind === 'metadata' && name.length > MAX_METADATA_KEY_LENGTH) {
      throw badHeader(
        `the column name ${quoted(name)} is longer than ${MAX_METADATA_KEY_LENGTH} characters (metadata keys cannot be)`,
      );
    }
    const slot =
      target.kind === 'field' ? target.field : target.kind === 'address' ? `address.${target.line}` : `metadata.${target.key}`;
    const earlier = columnOf.get(slot);
    if (earlier !== undefined) throw badHeader(`the columns ${quoted(earlier)} and ${quoted(name)} both set ${slot}`);
    columnOf.set(slot, name);
    targets.push(target);
  }
  if (targets.every((target) => target.kind === 'metadata')) {
    throw badHeader(
      `the first row must name the columns, and none of ${header.slice(0, 5).map(quoted).join(', ')} is a customer field (such as Source_id, Name, Email)`,
    );
  }
  return targets;
}

/** A record as the parser gives it with `info: true`. */
interface ParsedRecord {
  record: string[];
  info: { records: number; bytes: number };
}

/**
 * Reads the header row from the start of the file: 400 when there is none. `wholeFile` says
 * whether `start` is the whole file; if not, the header row must end within it.
 */
export function readHeader(start: Buffer, wholeFile: boolean): Target[] {
  const records = parseSync(start, { ...CSV_OPTIONS, to: 1, info: true }) as unknown as ParsedRecord[];
  const first = records[0];
  if (!first) throw new ApiError(400, { details: 'The CSV file has no header row' });
  if (!wholeFile && first.info.bytes >= start.length) {
    throw badHeader(`the header row is longer than ${start.length} bytes`);
  }
  return mapHeader(first.record);
}

const NUMBER = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/;

/** A metadata cell as JSON: true, false and numbers typed, anything else a string (so 007 stays "007", and 2^53 + 1 its digits). */
export function typedValue(text: string): string | number | boolean {
  const lower = text.toLowerCase();
  if (lower === 'true') return true;
  if (lower === 'false') return false;
  if (NUMBER.test(text)) {
    const number = Number(text);
    // An integer past 2^53 would lose digits as a number: it stays the text it is, exact.
    const integer = !/[.eE]/.test(text);
    if (Number.isFinite(number) && (!integer || Number.isSafeInteger(number))) return number;
  }
  return text;
}

/** A data row as the body POST /customers would take, for the same validation. */
export function rowToBody(targets: readonly Target[], cells: readonly string[]): Record<string, unknown> {
  const body: Record<string, unknown> = {};
  let addressLines: Record<string, string> | undefined;
  let metadata: Record<string, unknown> | undefined;
  for (const [index, target] of targets.entries()) {
    const cell = cells[index];
    if (cell === undefined || cell === '') continue;
    if (target.kind === 'field') body[target.field] = cell;
    else if (target.kind === 'address') (addressLines ??= {})[target.line] = cell;
    else (metadata ??= {})[target.key] = typedValue(cell);
  }
  if (addressLines) body.address = addressLines;
  if (metadata) body.metadata = metadata;
  return body;
}

/** The source_id cell of a row, for reporting it. */
export function sourceIdOf(targets: readonly Target[], cells: readonly string[]): string | null {
  const index = targets.findIndex((target) => target.kind === 'field' && target.field === 'source_id');
  const cell = index === -1 ? undefined : cells[index];
  return cell === undefined || cell === '' ? null : cell;
}

/** The header row, then each data row of the file or the reason it could not be parsed. */
export type CsvRow =
  | { header: string[]; bytes: number }
  | { row: number; cells: string[]; bytes: number }
  | { row: number; unreadable: string; bytes: number };

/**
 * The rows of a file read chunk by chunk: the header row, then the data rows numbered from 1
 * (blank lines are not rows). Memory holds a chunk and the rows parsed ahead, whatever the file
 * size. `bytes` estimates how much of the file the rows so far took, for progress: the cells and
 * their separators (quotes and multi-byte characters aside), never more than the parser read.
 */
export async function* csvRows(chunks: AsyncIterable<Buffer>): AsyncGenerator<CsvRow> {
  // Rows the parser could not read, in the order met; `after` counts the records read before each.
  const unreadable: Array<{ after: number; reason: string }> = [];
  const source = Readable.from(chunks);
  const parser = parse({
    ...CSV_OPTIONS,
    on_skip: (error) => {
      const reason =
        error?.code === 'CSV_QUOTE_NOT_CLOSED'
          ? 'a quote opened in it is never closed, so the rest of the file is part of this row'
          : (error?.message ?? 'unreadable row');
      unreadable.push({ after: Number(error?.records ?? 0), reason });
      return undefined;
    },
  });
  // pipe() does not pass a source's failure on (a chunk that could not be read): the reader must see it.
  source.once('error', (error) => parser.destroy(error));
  source.pipe(parser);
  let records = 0;
  let row = 0;
  let taken = 0;
  const bytes = () => Math.min(taken, parser.info.bytes);
  const unreadableBefore = function* (record: number) {
    while (unreadable.length > 0 && unreadable[0]!.after < record) {
      row += 1;
      // A row the parser could not read ran to where it stopped reading.
      taken = parser.info.bytes;
      yield { row, unreadable: `The row cannot be read as CSV: ${unreadable.shift()!.reason}`, bytes: bytes() };
    }
  };
  try {
    for await (const cells of parser as AsyncIterable<string[]>) {
      records += 1;
      yield* unreadableBefore(records);
      for (const cell of cells) taken += cell.length + 1;
      if (records === 1) {
        yield { header: cells, bytes: bytes() };
        continue;
      }
      row += 1;
      yield { row, cells, bytes: bytes() };
    }
    yield* unreadableBefore(Number.POSITIVE_INFINITY);
  } finally {
    // A reader that stops early (a worker handing the job on) stops reading chunks too.
    source.destroy();
  }
}
