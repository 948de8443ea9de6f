// `bun run bench`: every row of issue 23's table against its peer in the same run, through a freshly compiled
// agent run as a separate process (built into a temp dir, so dist/ and any agent running from it are left
// alone): file transfers vs curl (5 rounds, 100 MiB and 1 GiB, agent and worker RSS from /proc), the websh burst
// vs a raw PTY (5 bracketed runs: median and spread), tunnels vs direct TCP, streamed output vs /dev/null,
// signing on vs off, then the idle footprint beside node_exporter (5 minutes; the CPU figures repeated inside).
// `--short` runs fewer rounds and a 60 s footprint; `--endurance` adds the short storm, soak and outage runs.
// The long versions are run by hand (see BENCHMARKS.md).
// Run: node_modules/.bin/bun bench/run-all.ts [--short] [--endurance]   (ALPAMON_BIN=<binary> skips the build)
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
  const short = process.argv.includes("--short");
  const rounds = short ? "3" : "5";
  const table = [
    [bun, "bench/files.ts", rounds, short ? "100" : "100,1024"],
    [bun, "bench/pty.ts", rounds],
    [bun, "bench/tunnel.ts", rounds],
    [bun, "bench/stream.ts", short ? "1" : "3", "100"],
    [bun, "bench/signing.ts", short ? "100" : "300"],
    [bun, "bench/footprint.ts", short ? "60" : "300"],
  ];
  const endurance = process.argv.includes("--endurance")
    ? [
        [bun, "bench/storm.ts", "10000", "30"],
        [bun, "bench/soak.ts", "2", "30"],
        [bun, "bench/outage.ts", "1", "15"],
      ]
    : [];
  for (const argv of [...table, ...endurance]) {
    if (run(argv, env) !== 0) failed++;
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
process.exitCode = failed === 0 ? 0 : 1;
