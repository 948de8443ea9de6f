// Runs the short versions of the footprint and endurance benchmarks in a row against a freshly compiled agent
// (built into a temp dir, so dist/ and any agent running from it are left alone): storm, footprint 60 s,
// soak 2 min, outage 1 min. The long versions are run by hand (see BENCHMARKS.md).
// Run: node_modules/.bin/bun bench/run-all.ts   (ALPAMON_BIN=<binary> skips the build)
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const ROOT = join(import.meta.dir, "..");
const bun = process.execPath;

function run(argv: string[], env: Record<string, string> = {}): number {
  console.log(`\n$ ${argv.map((a) => a.replace(`${ROOT}/`, "")).join(" ")}`);
  const r = Bun.spawnSync(argv, { cwd: ROOT, stdio: ["ignore", "inherit", "inherit"], env: { ...process.env, ...env } });
  return r.exitCode ?? 1;
}

const scratch = mkdtempSync(join(tmpdir(), "alpamon-bench-"));
let failed = 0;
try {
  let bin = process.env.ALPAMON_BIN;
  if (!bin) {
    if (run([bun, "build.ts", "--target", "host", "--outdir", scratch]) !== 0) throw new Error("build failed");
    bin = join(scratch, "alpamon-linux-x64");
  }
  const env = { ALPAMON_BIN: bin };
  for (const argv of [
    [bun, "bench/storm.ts", "10000", "30"],
    [bun, "bench/footprint.ts", "60"],
    [bun, "bench/soak.ts", "2", "30"],
    [bun, "bench/outage.ts", "1", "15"],
  ]) {
    if (run(argv, env) !== 0) failed++;
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
process.exitCode = failed === 0 ? 0 : 1;
