// Small helpers for drizzle prepared statements over bun:sqlite, shared by every store in src/db/.
import type { Database } from "bun:sqlite";

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
