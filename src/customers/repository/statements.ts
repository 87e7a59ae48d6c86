import {
  DummyDriver,
  Kysely,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  sql,
  type Compilable,
  type Expression,
  type RawBuilder,
} from 'kysely';
import type { DB } from '../../generated/kysely/types.js';
import type { Queryable } from '../../transaction.js';

/**
 * The Prisma repository's statements are written with Kysely over the types prisma-kysely
 * generates from prisma/schema.prisma, so a renamed column or a value of the wrong type is a
 * tsc error. Kysely only writes them here: they run on the shared pg pool, whose client
 * prepares every parameterized statement (src/prepared-statements.ts).
 */
export const builder = new Kysely<DB>({
  dialect: {
    createAdapter: () => new PostgresAdapter(),
    createDriver: () => new DummyDriver(),
    createIntrospector: (db) => new PostgresIntrospector(db),
    createQueryCompiler: () => new PostgresQueryCompiler(),
  },
});

/** Stands for an argument of a statement while it is written: it becomes a `$n` parameter. */
class Slot {
  constructor(readonly name: string) {}
}

/** A statement written once, with its text and how each call's arguments fill its parameters. */
export interface Statement<Args, Row> {
  readonly text: string;
  bind(args: Args): unknown[];
  /** Never set: carries the row type. */
  readonly row?: Row;
}

/**
 * Writes a statement of a fixed shape once, at load: `build` receives stand-ins for the
 * arguments (each becomes a parameter), so a call binds its values without building or
 * compiling anything. Values the statement itself writes stay as they are.
 */
export function statement<Args extends object, Row>(build: (args: Args) => Compilable<Row>): Statement<Args, Row> {
  const standIns = new Proxy({}, { get: (_target, name) => new Slot(String(name)) }) as Args;
  const { sql: text, parameters } = build(standIns).compile();
  return {
    text,
    bind: (args) =>
      parameters.map((parameter) => (parameter instanceof Slot ? (args as Record<string, unknown>)[parameter.name] : parameter)),
  };
}

/**
 * Statements whose shape depends on a few choices (which filters a list has, its order): each
 * shape is written once, when first asked for, as statement() writes one. `name` must tell
 * every two shapes apart; the choices are few, so the shapes are too.
 */
export function statementShapes<Choices, Args extends object, Row>(
  name: (choices: Choices) => string,
  build: (choices: Choices, args: Args) => Compilable<Row>,
): (choices: Choices) => Statement<Args, Row> {
  const shapes = new Map<string, Statement<Args, Row>>();
  return (choices) => {
    const key = name(choices);
    let shape = shapes.get(key);
    if (shape === undefined) {
      shape = statement((args: Args) => build(choices, args));
      shapes.set(key, shape);
    }
    return shape;
  };
}

/** Runs a statement written once: its rows. */
export async function run<Args, Row>(db: Queryable, { text, bind }: Statement<Args, Row>, args: Args): Promise<Row[]> {
  return (await db.query(text, bind(args))).rows as Row[];
}

/** Runs a statement written for this call: its rows. */
export async function runBuilt<Row>(db: Queryable, query: Compilable<Row>): Promise<Row[]> {
  const { sql: text, parameters } = query.compile();
  return (await db.query(text, parameters as unknown[])).rows as Row[];
}

/**
 * Runs a statement written for this call as an unnamed statement, not prepared: for texts that
 * callers shape (filters), which are too many to keep a prepared statement of each.
 */
export async function runOnce<Row>(db: Queryable, query: Compilable<Row>): Promise<Row[]> {
  const { sql: text, parameters } = query.compile();
  return (await db.query({ text, values: parameters as unknown[] })).rows as Row[];
}

/** The wire format of a time (ISO 8601 in UTC, milliseconds), as a to_char pattern. */
const WIRE_TIME_PATTERN = `'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'`;

/** A timestamptz in the wire format. */
export const wireTime = (value: Expression<Date | string | null>): RawBuilder<string> =>
  sql<string>`to_char(${value} AT TIME ZONE 'UTC', ${sql.raw(WIRE_TIME_PATTERN)})`;

/** A timestamptz column in the wire format under its own name, for statements written as text (src/jobs/store.ts). */
export const isoTimestamp = (column: string) => `to_char(${column} AT TIME ZONE 'UTC', ${WIRE_TIME_PATTERN}) AS ${column}`;

/** A date in the wire format (YYYY-MM-DD). */
export const wireDate = (value: Expression<Date | string | null>): RawBuilder<string | null> =>
  sql<string | null>`to_char(${value}, 'YYYY-MM-DD')`;

/** A wire-format time (an ISO 8601 string) as a timestamptz parameter. */
export const timestamptz = (iso: string): RawBuilder<Date> => sql<Date>`${iso}::timestamptz`;
