// Temporary directories for tests: each test gets a fresh one, removed afterwards even when the test fails.
import { afterEach } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Registers cleanup with afterEach and returns a function that makes a new temp dir per call. */
export function useTempDirs(prefix = "alpamon-test-"): () => string {
  const made: string[] = [];
  afterEach(() => {
    for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
  });
  return () => {
    const dir = mkdtempSync(join(tmpdir(), prefix));
    made.push(dir);
    return dir;
  };
}
