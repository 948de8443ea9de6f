// The metric hot path must never start a process (no df, no ip, no systeminformation): every module under
// src/capabilities/metrics/ and everything it imports from src/ is checked for process-starting imports and calls.
import { describe, expect, test } from "bun:test";
import { readFileSync, readdirSync, statSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";

const SRC = resolve(import.meta.dir, "../../../src");
const FORBIDDEN = [
  /node:child_process|["']child_process["']/,
  /\bBun\.spawn(Sync)?\b/,
  /systeminformation/,
  /\bexec\/run\.ts\b/,
  /\bBun\.\$/,
];

function tsFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? tsFiles(path) : path.endsWith(".ts") ? [path] : [];
  });
}

/** Every src/ file reachable through relative value imports (`import type` is erased, so it cannot spawn). */
function closure(entries: string[]): Set<string> {
  const seen = new Set<string>();
  const queue = [...entries];
  while (queue.length > 0) {
    const file = queue.pop()!;
    if (seen.has(file)) continue;
    seen.add(file);
    for (const m of readFileSync(file, "utf8").matchAll(/^(?:import|export)\s+(?!type\s)[^;]*?from\s+["'](\.{1,2}\/[^"']+)["']/gm)) {
      const target = resolve(dirname(file), m[1]!);
      if (target.startsWith(SRC) && target.endsWith(".ts")) queue.push(target);
    }
  }
  return seen;
}

describe("metrics hot path", () => {
  test("no module reachable from src/capabilities/metrics starts a process", () => {
    // once-command.ts is the CLI entry of --once (not the agent's hot path) and is left out on purpose.
    const entries = tsFiles(join(SRC, "capabilities", "metrics")).filter((f) => !f.endsWith("once-command.ts"));
    const files = closure(entries);
    expect(files.size).toBeGreaterThan(10);
    const offenders = [...files].filter((f) => FORBIDDEN.some((re) => re.test(readFileSync(f, "utf8")))).map((f) => relative(SRC, f));
    expect(offenders).toEqual([]);
  });
});
