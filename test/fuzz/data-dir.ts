// A data directory for the fuzzers' firewall (its backups are written there): one per process, under the
// system temp dir, removed when the process exits. Never a fixed path: as root a fixed "/nonexistent/..."
// is simply created, and left behind.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

let dir: string | undefined;

export function fuzzDataDir(): string {
  if (!dir) {
    const made = mkdtempSync(join(tmpdir(), "alpamon-fuzz-"));
    dir = made;
    process.on("exit", () => rmSync(made, { recursive: true, force: true }));
  }
  return dir;
}

/** For test files (bun test runs no "exit" handlers): call in afterAll. */
export function removeFuzzDataDir(): void {
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
}
