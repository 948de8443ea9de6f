// Benchmark: the idle footprint of the compiled agent, as an operator runs it, against its peers in the same run.
// The agent (its own copy of the binary: the kernel does not page out pages another process shares) connects to
// the fake console with a busy metric configuration. Beside it, sampled the same way from outside (/proc, once a
// second): Debian's prometheus-node-exporter scraped every 5 s (when installed), and four floors built here with
// the same Bun: a compiled binary that only sleeps, one that only holds a WebSocket open (what Bun itself
// costs), and the agent's idle work written by hand (bench/floors/), without and with the design card's
// libraries (what Bun costs for that work, with nothing of the agent's own code). After the first 65 s
// (start-up, the first page-out), a window of SECONDS: CPU from each process's per-thread schedstat
// (nanoseconds; a thread's time is kept when it exits), in 1-minute slices for a median and spread; RSS and
// RssAnon at every sample; major faults and disk reads around each page-out round.
// Run: bun build.ts --target host && node_modules/.bin/bun bench/footprint.ts [seconds=300]
//      (ALPAMON_BIN=<binary> measures another build; the load average is printed beside the figures)
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { JSC_TUNING } from "../src/exec/jsc-tuning.ts";
import { FakeConsole } from "../test/console/fake-console.ts";
import { writeAgentConfig } from "../test/helpers/agent.ts";
import { footprint, installCopy, mb, routeMetrics, rssBreakdown, ThreadCpu } from "./lib.ts";

const seconds = Number(process.argv[2] ?? 300);
/** From the agent's start: start-up and the first page-out (at 60 s) fall before the window. */
const WARM_UP_S = 65;
const SLICE_S = 60;
const source = process.env.ALPAMON_BIN ?? join(import.meta.dir, "..", "dist", "alpamon-linux-x64");
const NODE_EXPORTER = "/usr/bin/prometheus-node-exporter";
/** Its own port per run, so two runs can overlap. */
const EXPORTER_PORT = 19100 + (process.pid % 800);
/** The issue's goals (issue 23): CPU % of one core, × node_exporter, RssAnon and RSS in MB. */
const GOAL = { cpu: 0.1, cpuRatio: 0.5, anonMb: 8, rssMb: 40 };

interface Sample {
  t: number;
  rss: number;
  anon: number;
  cpuNs: number;
  majflt: number;
  minflt: number;
  readBytes: number;
  threads: number;
  fds: number;
}

/** One process watched from outside. CPU: the sum of its threads' schedstat, keeping exited threads' last value. */
class Watched {
  readonly samples: Sample[] = [];
  private readonly threadCpu: ThreadCpu;
  constructor(
    readonly name: string,
    readonly pid: number,
  ) {
    this.threadCpu = new ThreadCpu(pid);
  }

  sample(t: number): void {
    try {
      const cpuNs = this.threadCpu.total();
      const { rss, anon, threads, fds } = footprint(this.pid);
      const stat = readFileSync(`/proc/${this.pid}/stat`, "utf8").split(") ")[1]!.split(" ");
      const io = readFileSync(`/proc/${this.pid}/io`, "utf8");
      this.samples.push({
        t,
        rss,
        anon,
        cpuNs,
        majflt: Number(stat[9]),
        minflt: Number(stat[7]),
        readBytes: Number(/^read_bytes: (\d+)/m.exec(io)?.[1] ?? 0),
        threads,
        fds,
      });
    } catch {
      // the process is gone; the report says so by its missing samples
    }
  }

  window(from: number, to = Number.POSITIVE_INFINITY): Sample[] {
    return this.samples.filter((s) => s.t >= from && s.t <= to);
  }

  /** CPU % of one core between the first and last sample of [from, to]. */
  cpu(from: number, to?: number): number | undefined {
    const w = this.window(from, to);
    if (w.length < 2) return undefined;
    const [a, b] = [w[0]!, w.at(-1)!];
    return ((b.cpuNs - a.cpuNs) / 1e6 / ((b.t - a.t) * 1000)) * 100;
  }
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(", ");
const pct = (x: number | undefined) => (x === undefined ? "-" : x.toFixed(3));
const ratio = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined || b === 0 ? "-" : (a / b).toFixed(2));

/**
 * Compiles a floor binary with the running Bun: `script` is its whole program, or `entry` a program in
 * bench/floors/ (minified, with bytecode, as one CommonJS module like every round's floors: a floor is one small
 * program with no dynamic import, so the agent's split into chunks has nothing to split in it).
 */
function buildFloor(dir: string, name: string, program: { script: string } | { entry: string }): string {
  const out = join(dir, name);
  let entry: string;
  let flags: string[] = [];
  if ("script" in program) {
    entry = join(dir, `${name}.ts`);
    writeFileSync(entry, program.script);
  } else {
    entry = join(import.meta.dir, "floors", program.entry);
    flags = ["--minify", "--bytecode", "--format", "cjs"];
  }
  const built = Bun.spawnSync([process.execPath, "build", "--compile", ...flags, entry, "--outfile", out], {
    stdout: "ignore",
    stderr: "pipe",
  });
  if (built.exitCode !== 0) throw new Error(`building the ${name} floor failed: ${built.stderr.toString()}`);
  return out;
}

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

if (!existsSync(source)) {
  console.error(`no agent binary at ${source}: run \`bun build.ts --target host\` first, or set ALPAMON_BIN`);
  process.exit(1);
}
const dir = mkdtempSync(join(tmpdir(), "alpamon-footprint-"));
const bin = join(dir, "alpamon");
installCopy(source, bin);
const quiet = { stdin: "ignore", stdout: "ignore", stderr: "ignore" } as const;
const fake = await FakeConsole.start();
routeMetrics(fake);
// The floors' peer: accepts a WebSocket and then says nothing, like a quiet console, and answers every POST
// with 201 as the console answers a metric.
const peer = Bun.serve({
  port: 0,
  fetch: (req, server) =>
    req.method === "POST"
      ? req.arrayBuffer().then(() => new Response(null, { status: 201 }))
      : server.upgrade(req)
        ? undefined
        : new Response("no"),
  websocket: { message() {} },
});
const peerWs = `ws://127.0.0.1:${peer.port}/`;
const floorSleep = buildFloor(dir, "floor-sleep", { script: "setInterval(() => {}, 2 ** 31 - 1);\n" });
const floorWs = buildFloor(dir, "floor-ws", {
  script: `const ws = new WebSocket(${JSON.stringify(peerWs)});\nws.onclose = () => process.exit(1);\n`,
});
// The agent's idle work by hand, with and without the design card's libraries; run with the agent's JSC and
// allocator options (the agent sets them by re-executing itself).
const floorWork = buildFloor(dir, "floor-work", { entry: "idle-work.ts" });
const floorWorkLibs = buildFloor(dir, "floor-work-libs", { entry: "idle-work-libs.ts" });
const workArgs = (name: string) => [peerWs, `http://127.0.0.1:${peer.port}/api/metrics/realtime`, join(dir, `${name}.db`)];
const procs: { proc: ReturnType<typeof Bun.spawn>; watched: Watched }[] = [];
const start = (name: string, argv: string[], env?: Record<string, string>) => {
  const proc = Bun.spawn(argv, { ...quiet, cwd: "/", ...(env ? { env } : {}) });
  procs.push({ proc, watched: new Watched(name, proc.pid) });
  return procs.at(-1)!.watched;
};
const env = { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: "/nonexistent-home" };
const spawnedAt = performance.now();
// No arguments, the config named in the environment: how the service unit starts it.
const agent = start("alpamon", [bin], { ...env, ALPAMON_CONFIG: writeAgentConfig(fake, dir) });
const exporter = existsSync(NODE_EXPORTER)
  ? start("node_exporter", [NODE_EXPORTER, `--web.listen-address=127.0.0.1:${EXPORTER_PORT}`], env)
  : undefined;
const tunedEnv = { ...env, ...JSC_TUNING };
const floors = [
  start("floor: sleep only", [floorSleep], env),
  start("floor: one idle WebSocket", [floorWs], env),
  start("floor: idle work by hand", [floorWork, ...workArgs("work")], tunedEnv),
  start("floor: + design-card libs", [floorWorkLibs, ...workArgs("work-libs")], tunedEnv),
];
const all = [agent, ...(exporter ? [exporter] : []), ...floors];
const loads: string[] = [`start ${load()}`];
try {
  await fake.waitForBackhaul(30_000);
  const t0 = spawnedAt;
  const children = new Set<number>();
  let scrapes = 0;
  for (let s = 1; s <= WARM_UP_S + seconds; s++) {
    await Bun.sleep(Math.max(0, t0 + s * 1000 - performance.now()));
    for (const w of all) w.sample(s);
    for (const c of childrenOf(agent.pid)) children.add(c);
    if (exporter && s % 5 === 0) {
      await fetch(`http://127.0.0.1:${EXPORTER_PORT}/metrics`)
        .then((r) => r.text())
        .catch(() => "");
      scrapes++;
    }
    if (s % SLICE_S === 0) loads.push(`${s} s ${load()}`);
  }
  const from = WARM_UP_S;
  const to = WARM_UP_S + seconds;
  const slices: number[] = [];
  for (let t = from; t + SLICE_S <= to; t += SLICE_S) slices.push(t);
  const sliceCpu = (w: Watched) => slices.map((t) => w.cpu(t, t + SLICE_S)).filter((x): x is number => x !== undefined);
  const metricPosts = fake.requests.filter((r) => r.path.startsWith("/api/metrics/realtime/")).length;
  console.log(
    `agent ${source} (own copy); window ${from}-${to} s after its start; ${metricPosts} realtime metric posts; ${scrapes} node_exporter scrapes`,
  );
  console.log(`load average (1, 5, 15 min): ${loads.join("; ")}`);
  console.log("\nper process, over the window (CPU: whole window, then the median and spread of 1-minute slices):");
  for (const w of all) {
    const win = w.window(from, to);
    if (win.length === 0) {
      console.log(`${w.name}: no samples (exited?)`);
      continue;
    }
    const s = sliceCpu(w);
    const last = win.at(-1)!;
    const rssMean = win.reduce((x, y) => x + y.rss, 0) / win.length;
    const anonMean = win.reduce((x, y) => x + y.anon, 0) / win.length;
    console.log(
      `  ${w.name.padEnd(26)} CPU ${pct(w.cpu(from, to))} % (slices median ${s.length ? `${pct(median(s))}, ${pct(Math.min(...s))}-${pct(Math.max(...s))}` : "-"}), RSS mean ${mb(rssMean)} max ${mb(Math.max(...win.map((x) => x.rss)))} MB, RssAnon mean ${mb(anonMean)} max ${mb(Math.max(...win.map((x) => x.anon)))} MB, threads ${last.threads}, fds ${last.fds}`,
    );
  }
  // The issue's table, each row against its peer in this run.
  const row = (
    what: string,
    a: number | undefined,
    b: number | undefined,
    goal: string,
    unit: string,
    f: (x: number | undefined) => string,
  ) => console.log(`| ${what} | ${f(a)}${unit} | ${f(b)}${unit} | ${ratio(a, b)} | ${goal} |`);
  const agentSlices = sliceCpu(agent);
  const peerSlices = exporter ? sliceCpu(exporter) : [];
  const sliceRatios = agentSlices.map((a, i) => a / (peerSlices[i] ?? Number.NaN)).filter(Number.isFinite);
  const maxOf = (w: Watched | undefined, key: "rss" | "anon") =>
    w ? Math.max(...w.window(from, to).map((x) => x[key])) / 1048576 : undefined;
  const meanOf = (w: Watched | undefined, key: "rss" | "anon") => {
    const win = w?.window(from, to) ?? [];
    return win.length ? win.reduce((x, y) => x + y[key], 0) / win.length / 1048576 : undefined;
  };
  const mbf = (x: number | undefined) => (x === undefined ? "-" : x.toFixed(1));
  console.log(`\n| row (after the first minute, ${seconds} s) | alpamon | node_exporter | ratio | goal |`);
  console.log("|---|---|---|---|---|");
  row(
    "idle CPU, % of one core (whole window)",
    agent.cpu(from, to),
    exporter?.cpu(from, to),
    `≤ ${GOAL.cpu} % and ≤ ${GOAL.cpuRatio} ×`,
    "",
    pct,
  );
  row(
    `idle CPU, median of ${agentSlices.length} 1-minute slices`,
    agentSlices.length ? median(agentSlices) : undefined,
    peerSlices.length ? median(peerSlices) : undefined,
    `per slice: ${sliceRatios.map((r) => r.toFixed(2)).join(", ") || "-"} ×`,
    "",
    pct,
  );
  row("RssAnon, mean", meanOf(agent, "anon"), meanOf(exporter, "anon"), `≤ ${GOAL.anonMb} MB`, " MB", mbf);
  row("RssAnon, max", maxOf(agent, "anon"), maxOf(exporter, "anon"), `≤ ${GOAL.anonMb} MB`, " MB", mbf);
  row("RSS, max of every sample", maxOf(agent, "rss"), maxOf(exporter, "rss"), `≤ ${GOAL.rssMb} MB`, " MB", mbf);
  console.log("\nthe Bun floors in the same run (what any compiled Bun program pays):");
  for (const f of floors)
    console.log(
      `  ${f.name}: CPU ${pct(f.cpu(from, to))} % (${ratio(agent.cpu(from, to), f.cpu(from, to))} × under the agent), RssAnon max ${mbf(maxOf(f, "anon"))} MB, RSS max ${mbf(maxOf(f, "rss"))} MB`,
    );
  // Page-out rounds: 60 s and 90 s after start, then every 10 minutes. What each costs in faults and disk reads.
  const a = agent.samples;
  console.log("\nagent per minute of its life (the page-out rounds: 60 s and 90 s after start, then every 10 minutes):");
  for (let t = 0; t + SLICE_S <= to; t += SLICE_S) {
    const w = agent.window(t === 0 ? 1 : t, t + SLICE_S);
    if (w.length < 2) continue;
    const [x, y] = [w[0]!, w.at(-1)!];
    console.log(
      `  ${t}-${t + SLICE_S} s: CPU ${((y.cpuNs - x.cpuNs) / 1e6).toFixed(1)} ms, major faults ${y.majflt - x.majflt}, minor ${y.minflt - x.minflt}, disk reads ${mb(y.readBytes - x.readBytes)} MB, RSS ${mb(x.rss)} → ${mb(y.rss)} MB`,
    );
  }
  const where = rssBreakdown(agent.pid);
  console.log(
    `agent RSS by origin at the end: its executable's pages ${mb(where.executable)} MB, other files ${mb(where.otherFiles)} MB, anonymous ${mb(where.anon)} MB; child processes seen ${children.size}; samples ${a.length}`,
  );
} finally {
  for (const { proc } of procs) proc.kill(proc === procs[0]!.proc ? "SIGTERM" : "SIGKILL");
  await Promise.all(procs.map(({ proc }) => proc.exited));
  void peer.stop(true);
  await fake.stop();
  rmSync(dir, { recursive: true, force: true });
}
