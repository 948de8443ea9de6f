// Test helper: a fresh temporary directory per test, and every database opened in it closed and the
// directory removed in afterEach, even when the test failed. Never reuse a directory between tests.
import type { Database } from "bun:sqlite";
import { afterEach, beforeEach } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface TempDir {
  /** The current test's directory. */
  readonly path: string;
  /** Closes `handle` in afterEach (before the directory goes); returns it for chaining. */
  track<T extends { close(): void } | Database>(handle: T): T;
}

export function useTempDir(prefix = "alpamon-db-"): TempDir {
  let current: string | undefined;
  let handles: { close(): void }[] = [];

  beforeEach(() => {
    current = mkdtempSync(join(tmpdir(), prefix));
    handles = [];
  });

  afterEach(() => {
    for (const h of handles.reverse()) {
      try {
        h.close();
      } catch {
        // already closed by the test
      }
    }
    handles = [];
    if (current) rmSync(current, { recursive: true, force: true });
    current = undefined;
  });

  return {
    get path() {
      if (!current) throw new Error("useTempDir: no test is running");
      return current;
    },
    track(handle) {
      handles.push(handle);
      return handle;
    },
  };
}
