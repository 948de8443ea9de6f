// Shared pieces of the file tests: a throwaway Unix user with a home (removed afterwards even on failure),
// the worker argv for running the worker from source, and a command context for calling handlers directly.
import { afterAll } from "bun:test";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { splitInternalLine } from "../../../src/commands/line.ts";
import type { CommandContext } from "../../../src/commands/registry.ts";
import { LogHub } from "../../../src/log/logger.ts";

export const WORKER_ENTRY = join(import.meta.dir, "worker-entry.ts");

/**
 * The worker's argv for tests: Bun with the test entry when a plain user can read the checkout (and run Bun),
 * else (a checkout under /root, say) the entry compiled into a world-readable temp dir. Returns the argv
 * and a cleanup function.
 */
export function prepareWorkerArgv(): { argv: string[]; cleanup: () => void } {
  const nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"];
  const readable = Bun.spawnSync([...nobody, "test", "-r", WORKER_ENTRY, "-a", "-x", process.execPath]).exitCode === 0;
  if (readable && !process.env.ALPAMON_TEST_COMPILED_WORKER) return { argv: [process.execPath, WORKER_ENTRY], cleanup: () => {} };
  const dir = mkdtempSync(join(tmpdir(), "alpamon-worker-"));
  chmodSync(dir, 0o755);
  const out = join(dir, "worker");
  const built = Bun.spawnSync([process.execPath, "build", "--compile", WORKER_ENTRY, "--outfile", out], { stdout: "pipe", stderr: "pipe" });
  if (built.exitCode !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`compiling the test worker failed: ${built.stderr.toString()}`);
  }
  return { argv: [out], cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** The worker argv for this test file, prepared on first use and cleaned up after the file's tests. */
export function useWorkerArgv(): () => string[] {
  let prepared: { argv: string[]; cleanup: () => void } | undefined;
  afterAll(() => prepared?.cleanup());
  return () => {
    prepared ??= prepareWorkerArgv();
    return prepared.argv;
  };
}

function run(argv: string[]): { code: number; out: string } {
  const p = Bun.spawnSync(argv, { stdout: "pipe", stderr: "pipe" });
  return { code: p.exitCode, out: p.stdout.toString() + p.stderr.toString() };
}

/** Creates users for this test file and deletes them (with their homes) when the file's tests end. */
export function useTestUsers(): (prefix?: string) => { name: string; home: string; uid: number } {
  const made: string[] = [];
  afterAll(() => {
    for (const name of made.splice(0)) run(["userdel", "-r", "-f", name]);
  });
  return (prefix = "aft") => {
    const name = `${prefix}${crypto.randomUUID().replace(/-/g, "").slice(0, 8)}`;
    const r = run(["useradd", "-m", "-s", "/bin/sh", "-U", name]);
    if (r.code !== 0) throw new Error(`useradd ${name}: ${r.out}`);
    made.push(name);
    const uid = Number(run(["id", "-u", name]).out.trim());
    return { name, home: `/home/${name}`, uid };
  };
}

export function context(line: string, data: object, overrides: Partial<CommandContext> = {}): CommandContext {
  const args = splitInternalLine(line).slice(1);
  return {
    id: crypto.randomUUID(),
    args,
    line,
    data: data as Record<string, unknown>,
    user: null,
    group: null,
    env: null,
    signal: new AbortController().signal,
    log: new LogHub({ write: () => {}, close: () => {} }).logger(),
    ...overrides,
  };
}

export function sh(argv: string[]): { code: number; out: string } {
  return run(argv);
}
