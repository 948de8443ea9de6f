// Small helpers for drizzle prepared statements over bun:sqlite, shared by every store in src/db/.
import type { Database, Statement } from "bun:sqlite";
import { Column, is, Param, Placeholder } from "drizzle-orm";

/** Prepares on first call, then returns the same statement (a statement nobody uses is never compiled). */
export function lazy<T>(build: () => T): () => T {
  let value: T | undefined;
  return () => (value ??= build());
}

/**
 * Rows a write changed. drizzle types bun:sqlite's run() result as void, but the statement's run() returns
 * bun:sqlite's `{ changes, lastInsertRowid }` unchanged.
 */
export function changes(result: unknown): number {
  return (result as { changes?: number } | undefined)?.changes ?? 0;
}

/**
 * Compiles `sql`, hands the statement to `use` and finalizes it, for SQL that runs once at start or once an
 * hour or a day (migrations, roll-ups, the WAL checkpoint). bun:sqlite's `query()` would keep each compiled for
 * the agent's life: a few KiB of SQLite's memory apiece, 55 statements (214 KB) in the idle agent before
 * (BENCHMARKS.md, "Round 10").
 */
export function runOnce<T>(sqlite: Database, sql: string, use: (statement: Statement) => T): T {
  const statement = sqlite.prepare(sql);
  try {
    return use(statement);
  } finally {
    statement.finalize();
  }
}

const runners = new WeakMap<Database, <T>(work: () => T) => T>();

/**
 * `BEGIN IMMEDIATE` … `COMMIT` with the three statements prepared once per connection. drizzle's and
 * bun:sqlite's transaction() build wrapper objects on every call, which the idle agent pays (in the
 * interpreter) for each 5-second sample. Inside an open transaction it falls back to bun:sqlite's nested form
 * (a savepoint), so nesting keeps its meaning. A failed `work` rolls back and rethrows.
 */
export function immediateTransaction(sqlite: Database): <T>(work: () => T) => T {
  let run = runners.get(sqlite);
  if (run) return run;
  const begin = sqlite.prepare("BEGIN IMMEDIATE");
  const commit = sqlite.prepare("COMMIT");
  const rollback = sqlite.prepare("ROLLBACK");
  run = <T>(work: () => T): T => {
    if (sqlite.inTransaction) return sqlite.transaction(work)();
    begin.run();
    try {
      const result = work();
      commit.run();
      return result;
    } catch (err) {
      if (sqlite.inTransaction) rollback.run();
      throw err;
    }
  };
  runners.set(sqlite, run);
  return run;
}

/** What `positional` needs of a drizzle query builder. */
interface BuiltQuery {
  toSQL(): { sql: string; params: unknown[] };
}

/**
 * A statement drizzle builds once (from the schema, with named placeholders) that runs straight on bun:sqlite
 * with its values passed in `order`. drizzle's own prepared statements resolve every placeholder on every run
 * (three of its `is()` prototype walks per value, in JavaScript): for the idle agent's sample inserts that was
 * hundreds of calls a cycle, enough to make JavaScriptCore compile `is()` with its optimizing tier within minutes
 * (BENCHMARKS.md, "Round 9"). Here the values are bound natively. Throws, once when built, if the placeholders
 * are not exactly `order` or a column would encode its value (a mode such as `timestamp` or `json`): such a
 * statement needs drizzle's run.
 */
export function positional(sqlite: Database, query: BuiltQuery, order: readonly string[]): Statement {
  const { sql, params } = query.toSQL();
  const names = params.map((param) => {
    if (is(param, Placeholder)) return param.name;
    if (is(param, Param) && is(param.value, Placeholder)) {
      const encoder = param.encoder as { mapToDriverValue?: unknown } | undefined;
      if (encoder?.mapToDriverValue !== undefined && encoder.mapToDriverValue !== Column.prototype.mapToDriverValue)
        throw new Error(`positional: placeholder ${param.value.name} has a column encoding; run it through drizzle`);
      return param.value.name;
    }
    throw new Error("positional: a value in the statement is not a placeholder");
  });
  if (names.length !== order.length || names.some((name, i) => name !== order[i]))
    throw new Error(`positional: the placeholders are ${names.join(", ")}, not ${order.join(", ")}`);
  return sqlite.prepare(sql);
}
