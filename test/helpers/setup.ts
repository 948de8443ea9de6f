// The test run's preload (bunfig.toml [test] preload): hooks for the whole run, not for one file.
// - Removes the reachable copies of code that tests ran as another user (test/helpers/reachable.ts).
// - When not root, ends the run with one block naming the suites that were skipped because they need root, found
//   from the root gates (`describe.skipIf(!isRoot)`, `test.if(isRoot)`, `skipIf(!canUseNetns)`, ...) in the test
//   files that ran. bun test marks each of their tests "(skip)"; this says which and why, in one place.
import { afterAll } from "bun:test";
import { readFileSync } from "node:fs";
import { relative } from "node:path";
import { removeReachableCopies } from "./reachable.ts";
import { type Gate, rootGates } from "./root-gates.ts";

function skippedAsNonRoot(): string[] {
  const files = Object.keys(require.cache)
    .filter((path) => /\.test\.ts$/.test(path))
    .sort();
  const lines: string[] = [];
  for (const file of files) {
    let gates: Gate[];
    try {
      gates = rootGates(readFileSync(file, "utf8"));
    } catch {
      continue;
    }
    if (gates.length === 0) continue;
    lines.push(`  ${relative(process.cwd(), file)}`);
    for (const gate of gates) lines.push(`      ${gate.suite}`);
  }
  return lines;
}

afterAll(() => {
  removeReachableCopies();
  if (process.getuid?.() === 0) return;
  try {
    const lines = skippedAsNonRoot();
    if (lines.length === 0) return;
    const rule = "=".repeat(100);
    console.log(
      [
        "",
        rule,
        `Skipped: not root (uid ${process.getuid?.()}). These suites create users, groups and network namespaces, switch`,
        "users and open terminals as them, so they run only as root (CI runs the suite as root on a disposable",
        'machine; see "Testing" in README.md):',
        ...lines,
        rule,
      ].join("\n"),
    );
  } catch {
    // a summary must never fail the run
  }
});
