// Records the profile that build.ts lays the executable's bytecode out by (packaging/bytecode-order.txt, Bun's
// `bytecodeOrder`): a freshly compiled agent runs beside a fake console with the busy metric configuration, as
// bench/idle-variants.ts runs it, with BUN_BYTECODE_ORDER_OUT set, through start-up, its first commit and the
// first page-out round, and is stopped; Bun writes the functions it loaded at exit. The build then places them
// together at the front of the bundle, so the idle agent touches fewer of the bundle's pages (BENCHMARKS.md,
// "Round 5"). A profile from an older build still applies (functions are matched by hash); record it again
// after large changes to what the idle agent runs.
// Run: node_modules/.bin/bun bench/bytecode-order.ts [seconds=90] [out=packaging/bytecode-order.txt]
//      (ALPAMON_BIN=<binary> skips the build)
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FakeConsole } from "../test/console/fake-console.ts";
import { writeAgentConfig } from "../test/helpers/agent.ts";
import { installCopy, routeMetrics } from "./lib.ts";

const ROOT = join(import.meta.dir, "..");
const seconds = Number(process.argv[2] ?? 90);
const out = process.argv[3] ?? join(ROOT, "packaging", "bytecode-order.txt");
if (!(seconds > 0)) {
  console.error("usage: bun bench/bytecode-order.ts [seconds] [out]");
  process.exit(2);
}

const dir = mkdtempSync(join(tmpdir(), "alpamon-order-"));
const fake = await FakeConsole.start({});
try {
  let bin = process.env.ALPAMON_BIN;
  if (!bin) {
    const build = Bun.spawnSync([process.execPath, "build.ts", "--target", "host", "--outdir", dir], {
      cwd: ROOT,
      stdio: ["ignore", "inherit", "inherit"],
    });
    if (build.exitCode !== 0) throw new Error("build failed");
    bin = join(dir, `alpamon-linux-${process.arch}`);
  }
  routeMetrics(fake);
  const agentBin = join(dir, "alpamon");
  installCopy(bin, agentBin);
  const profile = join(dir, "order.txt");
  const agent = Bun.spawn([agentBin], {
    cwd: "/",
    stdin: "ignore",
    stdout: "ignore",
    stderr: Bun.file(join(dir, "agent.log")),
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: "/nonexistent-home",
      ALPAMON_CONFIG: writeAgentConfig(fake, dir),
      BUN_BYTECODE_ORDER_OUT: profile,
    },
  });
  await Bun.sleep(seconds * 1000);
  agent.kill("SIGTERM");
  const code = await agent.exited;
  const text = readFileSync(profile, "latin1");
  if (code !== 0 || !text.startsWith("v2\n")) throw new Error(`the agent exited with ${code} and left ${text.length} bytes of profile`);
  copyFileSync(profile, out);
  console.log(`${new Date().toISOString()}: ${text.split("\n").length - 2} entries from ${seconds} s of the agent -> ${out}`);
} finally {
  await fake.stop();
  rmSync(dir, { recursive: true, force: true });
}
