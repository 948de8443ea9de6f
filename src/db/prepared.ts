// Small helpers for drizzle prepared statements over bun:sqlite, shared by every store in src/db/.

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
