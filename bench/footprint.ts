// Benchmark: the compiled agent connected to the fake console with a full metric configuration, sampled for a
// while: RSS, RssAnon, threads, open fds, CPU% of one core, and child processes started (from /proc). When
// Debian's prometheus-node-exporter is installed, it runs in the same window, scraped every 5 s, side by side.
// Run: bun build.ts --target host && node_modules/.bin/bun bench/footprint.ts [seconds=600]
import { mkdtempSync, readdirSync, readFileSync, rmSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FakeConsole } from "../test/console/fake-console.ts";
import { writeAgentConfig } from "../test/helpers/agent.ts";
import { footprint, mb, routeMetrics, rssBreakdown, TICKS_PER_SECOND } from "./lib.ts";

const seconds = Number(process.argv[2] ?? 600);
const bin = process.env.ALPAMON_BIN ?? join(import.meta.dir, "..", "dist", "alpamon-linux-x64");
const NODE_EXPORTER = "/usr/bin/prometheus-node-exporter";
const TICKS = TICKS_PER_SECOND;

const snapshot = footprint;

/** Children ever started = the cumulative child CPU fields can miss short ones, so count direct children seen. */
function childrenOf(pid: number): number[] {
  return readdirSync("/proc")
    .filter((p) => /^\d+$/.test(p))
    .map(Number)
    .filter((p) => {
      try {
        return readFileSync(`/proc/${p}/stat`, "utf8").split(") ")[1]!.split(" ")[1] === String(pid);
      } catch {
        return false;
      }
    });
}

const fake = await FakeConsole.start();
routeMetrics(fake);
const dir = mkdtempSync(join(tmpdir(), "alpamon-footprint-"));
const agent = Bun.spawn([bin, "--config", writeAgentConfig(fake, dir)], { stdin: "ignore", stdout: "ignore", stderr: "ignore" });
const exporter = existsSync(NODE_EXPORTER)
  ? Bun.spawn([NODE_EXPORTER, "--web.listen-address=127.0.0.1:19100"], { stdin: "ignore", stdout: "ignore", stderr: "ignore" })
  : undefined;
try {
  await fake.waitForBackhaul(30_000);
  await Bun.sleep(5_000); // let start-up (commit, first checks) settle before measuring
  const first = { agent: snapshot(agent.pid), exporter: exporter ? snapshot(exporter.pid) : undefined };
  const t0 = performance.now();
  const peak = { agentRss: 0, agentAnon: 0, exporterRss: 0, exporterAnon: 0 };
  // Means over every sample: the agent's RSS is a sawtooth (it pages its executable out every 10 minutes).
  const sum = { n: 0, agentRss: 0, agentAnon: 0 };
  const children = new Set<number>();
  let scrapes = 0;
  while (performance.now() - t0 < seconds * 1000) {
    await Bun.sleep(1_000);
    for (const c of childrenOf(agent.pid)) children.add(c);
    const a = snapshot(agent.pid);
    peak.agentRss = Math.max(peak.agentRss, a.rss);
    peak.agentAnon = Math.max(peak.agentAnon, a.anon);
    sum.n++;
    sum.agentRss += a.rss;
    sum.agentAnon += a.anon;
    if (exporter && Math.round((performance.now() - t0) / 1000) % 5 === 0) {
      await fetch("http://127.0.0.1:19100/metrics")
        .then((r) => r.text())
        .catch(() => "");
      scrapes++;
      const e = snapshot(exporter.pid);
      peak.exporterRss = Math.max(peak.exporterRss, e.rss);
      peak.exporterAnon = Math.max(peak.exporterAnon, e.anon);
    }
  }
  const elapsed = (performance.now() - t0) / 1000;
  const last = snapshot(agent.pid);
  const cpu = ((last.cpuTicks - first.agent.cpuTicks) / TICKS / elapsed) * 100;
  const metricPosts = fake.requests.filter((r) => r.path.startsWith("/api/metrics/realtime/")).length;
  console.log(`window: ${elapsed.toFixed(0)} s; agent ${bin}; ${metricPosts} realtime metric posts received`);
  console.log(
    `agent:         RSS ${mb(last.rss)} MB at the end, mean ${mb(sum.agentRss / sum.n)} (peak ${mb(peak.agentRss)}), RssAnon ${mb(last.anon)} MB at the end, mean ${mb(sum.agentAnon / sum.n)} (peak ${mb(peak.agentAnon)}), CPU ${cpu.toFixed(3)} % of one core, threads ${last.threads}, fds ${last.fds}, child processes seen ${children.size}`,
  );
  const where = rssBreakdown(agent.pid);
  console.log(
    `agent RSS by origin: its executable's pages ${mb(where.executable)} MB (file-backed: the Bun runtime and the embedded app), other files ${mb(where.otherFiles)} MB, anonymous ${mb(where.anon)} MB`,
  );
  if (exporter && first.exporter) {
    const e = snapshot(exporter.pid);
    const ecpu = ((e.cpuTicks - first.exporter.cpuTicks) / TICKS / elapsed) * 100;
    console.log(
      `node_exporter: RSS ${mb(e.rss)} MB (peak ${mb(peak.exporterRss)}), RssAnon ${mb(e.anon)} MB (peak ${mb(peak.exporterAnon)}), CPU ${ecpu.toFixed(3)} % of one core, threads ${e.threads}, fds ${e.fds}; ${scrapes} scrapes`,
    );
    console.log(
      `ratios agent/node_exporter: RSS ${(last.rss / e.rss).toFixed(2)}, RssAnon ${(last.anon / e.anon).toFixed(2)}, CPU ${(cpu / Math.max(ecpu, 1e-9)).toFixed(2)}`,
    );
  }
} finally {
  agent.kill("SIGTERM");
  await agent.exited;
  exporter?.kill("SIGKILL");
  await fake.stop();
  rmSync(dir, { recursive: true, force: true });
}
