// Benchmark: idle agents side by side, each a variant (a binary and extra environment variables), to compare
// what a change or an option costs an idle agent. Every agent is its own copy of the compiled binary with its
// own fake console and the busy metric configuration (bench/lib.ts), started together; after WARM seconds
// (start-up and the first page-out) each is sampled from outside once a second for SECONDS: CPU per thread
// from schedstat (a thread that exits keeps its last value; threads summed by name), RSS and RssAnon means and
// peaks, and the highest RSS and RssAnon of each minute. Identical agents differ by about ±5 % in one run, so
// only larger differences count; repeat a run before trusting a small one. The idle table of BENCHMARKS.md
// ("Idle agent, round 2") was made with it.
// Run: node_modules/.bin/bun bench/idle-variants.ts '<json>' [seconds=240] [warm=65]
//      <json>: [{"name":"default","bin":"/tmp/d/alpamon-linux-x64","env":{}},  (optional "dialect": "2024"|"2025"|"2026",
//               "restart": true, "logFile": true for a log file as the service writes instead of stderr,
//               "rollupEvery": 600 to run the hourly roll-ups every 10 minutes)
//      SERIES=n in the environment also prints each agent's RssAnon every n seconds; KEEP=1 keeps their directories
//               {"name":"holes=1000","bin":"/tmp/d/alpamon-linux-x64","env":{"MIMALLOC_PURGE_HOLES_MIN_INTERVAL":"1000"}}]
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { type Dialect, FakeConsole } from "../test/console/fake-console.ts";
import { writeAgentConfig } from "../test/helpers/agent.ts";
import { BUSY_CHECKS, footprint, installCopy, ioCounters, routeMetrics, ThreadCpu } from "./lib.ts";

interface Variant {
  name: string;
  bin: string;
  env?: Record<string, string>;
  /** The fake console's dialect (default 2025). */
  dialect?: Dialect;
  /**
   * Measure a restarted agent: it runs once until its state database is set up and its first commit is sent
   * (10 s), is stopped, and is started again on the same state, as after a reboot or an upgrade.
   */
  restart?: boolean;
  /** Log to a file in the agent's directory, as the service does, instead of stderr (`log_file = -`). */
  logFile?: boolean;
  /**
   * Run the hourly roll-ups every this many seconds instead (still aligned to the wall clock, 5 s after each
   * multiple), to see within a short run what their runs leave behind.
   */
  rollupEvery?: number;
}

const variants = JSON.parse(process.argv[2] ?? "[]") as Variant[];
/** SERIES=n also prints every agent's RssAnon every n seconds of the window (what a shrink or a round does). */
const SERIES = Number(process.env.SERIES ?? 0);
/** KEEP=1 keeps each agent's directory (its log, its state) and prints where; remove them yourself. */
const KEEP = process.env.KEEP === "1";
const seconds = Number(process.argv[3] ?? 240);
const warm = Number(process.argv[4] ?? 65);
if (variants.length === 0 || !(seconds > 1) || !(warm >= 0)) {
  console.error("usage: bun bench/idle-variants.ts '<json list of {name, bin, env}>' [seconds] [warm]");
  process.exit(2);
}

class Agent {
  private readonly cpu: ThreadCpu;
  private start: Map<string, number> | undefined;
  private last: Map<string, number> | undefined;
  readonly rss: number[] = [];
  readonly anon: number[] = [];
  /** Major faults and bytes read from disk, cumulative, one sample a second. */
  readonly majflt: number[] = [];
  readonly readBytes: number[] = [];
  constructor(
    readonly name: string,
    readonly proc: ReturnType<typeof Bun.spawn>,
    readonly dir: string,
    readonly fake: FakeConsole,
  ) {
    this.cpu = new ThreadCpu(proc.pid);
  }

  sample(measuring: boolean): void {
    const names = this.cpu.byName();
    if (!measuring) {
      this.start = names;
      return;
    }
    this.start ??= names;
    const { rss, anon } = footprint(this.proc.pid);
    this.rss.push(rss / 1048576);
    this.anon.push(anon / 1048576);
    const { majflt, readBytes } = ioCounters(this.proc.pid);
    this.majflt.push(majflt);
    this.readBytes.push(readBytes);
    this.last = names;
  }

  report(window: number): string {
    const start = this.start ?? new Map<string, number>();
    const parts = [...(this.last ?? new Map<string, number>())]
      .map(([name, ns]) => [name, ns - (start.get(name) ?? 0)] as const)
      .filter(([, ns]) => ns > 0)
      .sort((a, b) => b[1] - a[1]);
    const pct = (ns: number) => ((ns / 1e9 / window) * 100).toFixed(3);
    const total = parts.reduce((sum, [, ns]) => sum + ns, 0);
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
    return (
      `${this.name.padEnd(28)} CPU ${pct(total)} % of one core   RSS ${mean(this.rss).toFixed(1)} MB (max ${Math.max(...this.rss).toFixed(1)})` +
      `   RssAnon ${mean(this.anon).toFixed(1)} MB (max ${Math.max(...this.anon).toFixed(1)})\n` +
      `${"".padEnd(28)} RSS max by minute: ${byMinute(this.rss)}; RssAnon: ${byMinute(this.anon)}\n` +
      `${"".padEnd(28)} major faults by minute: ${perMinute(this.majflt, 1)}; disk reads, MB: ${perMinute(this.readBytes, 1048576)}\n` +
      `${"".padEnd(28)} by thread: ${parts.map(([name, ns]) => `${name} ${pct(ns)}`).join(", ")}` +
      (SERIES > 0
        ? `\n${"".padEnd(28)} RssAnon every ${SERIES} s: ${this.anon
            .filter((_, i) => i % SERIES === 0)
            .map((x) => x.toFixed(1))
            .join(" ")}`
        : "")
    );
  }
}

/** The highest sample of each minute of the window (samples are one a second), in MB. */
function byMinute(samples: number[]): string {
  const out: string[] = [];
  for (let i = 0; i < samples.length; i += 60) out.push(Math.max(...samples.slice(i, i + 60)).toFixed(1));
  return out.join(" ");
}

/** What each minute of the window added to a cumulative counter (one sample a second), divided by `unit`. */
function perMinute(samples: number[], unit: number): string {
  const out: string[] = [];
  for (let i = 0; i + 1 < samples.length; i += 60) {
    const end = samples[Math.min(i + 60, samples.length - 1)]!;
    out.push(((end - samples[i]!) / unit).toFixed(unit === 1 ? 0 : 1));
  }
  return out.join(" ");
}

const agents: Agent[] = [];
try {
  for (const v of variants) {
    const fake = await FakeConsole.start(v.dialect ? { dialect: v.dialect } : {});
    const every = v.rollupEvery;
    routeMetrics(fake, every ? BUSY_CHECKS.map((c) => (c.type.startsWith("hourly-") ? { ...c, interval: every } : c)) : BUSY_CHECKS);
    const dir = mkdtempSync(join(tmpdir(), "alpamon-variant-"));
    const bin = join(dir, "alpamon");
    installCopy(v.bin, bin);
    const config = writeAgentConfig(fake, dir, v.logFile ? { logFile: join(dir, "alpamon.log") } : {});
    // No arguments, the config named in the environment: how the service unit starts it.
    const start = (log: string) =>
      Bun.spawn([bin], {
        cwd: "/",
        stdin: "ignore",
        stdout: "ignore",
        stderr: Bun.file(join(dir, log)),
        env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: "/nonexistent-home", ALPAMON_CONFIG: config, ...v.env },
      });
    if (v.restart) {
      const first = start("agent-first.log");
      await Bun.sleep(10_000);
      first.kill("SIGTERM");
      await first.exited;
    }
    agents.push(new Agent(v.name, start("agent.log"), dir, fake));
  }
  const t0 = performance.now();
  const loads: number[] = [];
  for (let s = 1; s <= warm + seconds; s++) {
    await Bun.sleep(Math.max(0, t0 + s * 1000 - performance.now()));
    for (const a of agents) a.sample(s > warm);
    if (s % 30 === 0) loads.push(loadavg()[0]!);
  }
  console.log(`${new Date().toISOString()}: ${seconds} s from ${warm} s after start; load ${loads.map((l) => l.toFixed(2)).join(" ")}`);
  for (const a of agents) console.log(a.report(seconds - 1));
} finally {
  for (const a of agents) a.proc.kill("SIGTERM");
  await Promise.all(agents.map((a) => a.proc.exited));
  for (const a of agents) {
    await a.fake.stop();
    if (KEEP) console.log(`${a.name}: kept ${a.dir} (its log: agent.log)`);
    else rmSync(a.dir, { recursive: true, force: true });
  }
}
