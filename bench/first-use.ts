// Benchmark: what an idle agent's page-out costs the first piece of work after it. Agents of each variant (a
// binary), each its own written-back copy with its own fake console and the busy metric configuration, idle
// for IDLE seconds (past the start-up page-out rounds); then, one agent after another, a shell command as
// root (`echo one`), the same command again, and an internal ping. For each: the time from the console pushing
// the command to the console receiving its fin, and the major faults and disk reads the agent took meanwhile.
// A page the agent evicted and needs again is read back from disk (a major fault), one the page cache still
// holds is a minor fault; so the first command is where the page-out shows.
// Run: node_modules/.bin/bun bench/first-use.ts '<json [{"name","bin"}]>' [idle=150] [rounds=1]
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FakeConsole } from "../test/console/fake-console.ts";
import { writeAgentConfig } from "../test/helpers/agent.ts";
import { installCopy, ioCounters, routeMetrics } from "./lib.ts";

interface Variant {
  name: string;
  bin: string;
}

const variants = JSON.parse(process.argv[2] ?? "[]") as Variant[];
const idle = Number(process.argv[3] ?? 150);
const rounds = Number(process.argv[4] ?? 1);
if (variants.length === 0 || !(idle >= 0) || !(rounds >= 1)) {
  console.error("usage: bun bench/first-use.ts '<json list of {name, bin}>' [idle seconds] [rounds]");
  process.exit(2);
}

interface Agent {
  name: string;
  proc: ReturnType<typeof Bun.spawn>;
  dir: string;
  fake: FakeConsole;
}

const WORK = [
  { label: "shell command, first", cmd: { shell: "system", line: "echo one", user: "root", group: "root" } },
  { label: "shell command, again", cmd: { shell: "system", line: "echo one", user: "root", group: "root" } },
  { label: "internal ping", cmd: { shell: "internal", line: "ping" } },
] as const;

async function measure(agent: Agent): Promise<string[]> {
  const lines: string[] = [];
  for (const { label, cmd } of WORK) {
    const before = ioCounters(agent.proc.pid);
    const t0 = performance.now();
    const fin = await agent.fake.waitForFin(agent.fake.sendCommand({ ...cmd }), 30_000);
    const ms = performance.now() - t0;
    const after = ioCounters(agent.proc.pid);
    lines.push(
      `  ${label.padEnd(22)} ${ms.toFixed(1).padStart(7)} ms   major faults ${String(after.majflt - before.majflt).padStart(4)}` +
        `   disk reads ${((after.readBytes - before.readBytes) / 1048576).toFixed(1)} MB   ${fin.success ? "ok" : "FAILED"}`,
    );
  }
  return lines;
}

async function stop(agent: Agent): Promise<void> {
  agent.proc.kill("SIGTERM");
  await agent.proc.exited;
  await agent.fake.stop();
  rmSync(agent.dir, { recursive: true, force: true });
}

const agents: Agent[] = [];
try {
  for (let round = 1; round <= rounds; round++) {
    for (const v of variants) {
      const fake = await FakeConsole.start();
      routeMetrics(fake);
      const dir = mkdtempSync(join(tmpdir(), "alpamon-first-use-"));
      const bin = join(dir, "alpamon");
      installCopy(v.bin, bin);
      const config = writeAgentConfig(fake, dir);
      const proc = Bun.spawn([bin], {
        cwd: "/",
        stdin: "ignore",
        stdout: "ignore",
        stderr: Bun.file(join(dir, "agent.log")),
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: "/nonexistent-home", ALPAMON_CONFIG: config },
      });
      agents.push({ name: v.name, proc, dir, fake });
    }
    await Promise.all(agents.map((a) => a.fake.waitForBackhaul(30_000)));
    await Bun.sleep(idle * 1000);
    console.log(`${new Date().toISOString()}: round ${round}, after ${idle} s idle`);
    for (const agent of agents) console.log(`${agent.name}\n${(await measure(agent)).join("\n")}`);
    for (const a of agents.splice(0)) await stop(a);
  }
} finally {
  for (const a of agents) await stop(a);
}
