import { createHash } from 'node:crypto';
import pg from 'pg';

/** Statement names by text: the texts are the service's (and pg-boss's) own, so they are few. */
const names = new Map<string, string>();

function statementName(text: string): string {
  let name = names.get(text);
  if (name === undefined) {
    name = `s_${createHash('sha256').update(text).digest('hex').slice(0, 40)}`;
    names.set(text, name);
  }
  return name;
}

type Query = (...args: unknown[]) => never;

/**
 * The pool's client: it runs every parameterized statement as a named, prepared one, so that
 * PostgreSQL parses and plans a text once per connection instead of on every call, which on a
 * short lookup is most of its work (bench/README.md has the figures). The name is a digest of
 * the text, so one text always has one name and two texts never share one. Statements without
 * parameters (BEGIN, COMMIT, scripts) go as they are.
 */
export class PreparingClient extends pg.Client {
  // One signature for pg's many overloads: the arguments go on to pg unchanged but for the name.
  override query(...args: unknown[]): never {
    const [text, values, ...rest] = args;
    const parameterized = typeof text === 'string' && Array.isArray(values) && values.length > 0;
    // No bound copy of pg's method per call: this runs for every statement.
    return (super.query as Query).apply(this, parameterized ? [{ name: statementName(text), text, values }, ...rest] : args);
  }
}
