// Code that a test runs as another user (the agent's file worker, a child as "nobody") must be reachable by that
// user. A checkout inside a 0700 directory (root's home, a `mktemp -d`) is not: then the entry point is bundled
// (`bun build --target=bun`, the whole program in one file) next to a copy of Bun in a 0755 temp directory, once
// per entry and test run; test/helpers/setup.ts (the run's preload) removes it at the end of the run.
import { chmodSync, copyFileSync, linkSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";

const NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--"];
let shared: { dir: string; bun: string } | undefined;
const bundles = new Map<string, string[]>();

/** True when "nobody" can read `entry` and run this Bun (always true when not root: no other user to be). */
export function reachableByOthers(entry: string): boolean {
  if (process.getuid?.() !== 0) return true;
  return (
    Bun.spawnSync([...NOBODY, "test", "-r", entry, "-a", "-x", process.execPath], { stdout: "ignore", stderr: "ignore" }).exitCode === 0
  );
}

function sharedDir(): { dir: string; bun: string } {
  if (shared) return shared;
  const dir = mkdtempSync(join(tmpdir(), "alpamon-reachable-"));
  chmodSync(dir, 0o755);
  const bun = join(dir, "bun");
  try {
    linkSync(process.execPath, bun); // same file system: no 100 MB copy
  } catch {
    copyFileSync(process.execPath, bun);
  }
  chmodSync(bun, 0o755);
  shared = { dir, bun };
  return shared;
}

/**
 * The argv that runs the TypeScript file `entry` with Bun, such that any user can run it: Bun and the file
 * themselves when the checkout is reachable, else the bundled copy described above.
 */
export function runnableByOthers(entry: string): string[] {
  if (reachableByOthers(entry)) return [process.execPath, entry];
  const known = bundles.get(entry);
  if (known) return known;
  const { dir, bun } = sharedDir();
  const out = join(dir, `${bundles.size}-${basename(entry).replace(/\.ts$/, "")}.js`);
  const built = Bun.spawnSync([process.execPath, "build", entry, "--target=bun", "--outfile", out], { stdout: "pipe", stderr: "pipe" });
  if (built.exitCode !== 0) throw new Error(`bundling ${entry} for other users failed: ${built.stderr.toString()}`);
  chmodSync(out, 0o644);
  const argv = [bun, out];
  bundles.set(entry, argv);
  return argv;
}

/** Removes the reachable copies made during this run (bun test runs no exit handlers, so the preload calls it). */
export function removeReachableCopies(): void {
  if (shared) rmSync(shared.dir, { recursive: true, force: true });
  shared = undefined;
  bundles.clear();
}
