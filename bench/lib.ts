// Shared by the endurance benchmarks (soak, outage): start the agent against the fake console with a busy
// metric configuration, and read a process's footprint from /proc. Reads only; never signals a process the
// benchmark did not start.
import { closeSync, copyFileSync, fsyncSync, openSync, readdirSync, readFileSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import type { FakeConsole } from "../test/console/fake-console.ts";
import { writeAgentConfig } from "../test/helpers/agent.ts";

export const TICKS_PER_SECOND = 100; // USER_HZ

/** Realtime every 5 s, senders and heartbeat every minute, roll-ups hourly/daily: a busy but typical setup. */
export const BUSY_CHECKS = [
  ["cpu", 5],
  ["memory", 5],
  ["disk-usage", 5],
  ["disk-io-collector", 5],
  ["net-collector", 5],
  ["disk-io", 60],
  ["net", 60],
  ["status", 60],
  ["alert", 60],
  ["hourly-cpu-usage", 3600],
  ["hourly-memory-usage", 3600],
  ["hourly-disk-usage", 3600],
  ["hourly-disk-io", 3600],
  ["hourly-net", 3600],
  ["daily-cpu-usage", 86400],
  ["daily-memory-usage", 86400],
  ["daily-disk-usage", 86400],
  ["daily-disk-io", 86400],
  ["daily-net", 86400],
  ["cleanup", 86400],
].map(([type, interval]) => ({ type: String(type), interval: Number(interval) }));

/**
 * A private copy of a binary for one agent (the kernel does not page out pages another process shares), written
 * back to disk as an installed binary is: page-out cannot reclaim page-cache pages that are still dirty, and an
 * agent started within a minute of the copy would otherwise keep some of its executable's pages.
 */
export function installCopy(source: string, target: string): void {
  copyFileSync(source, target);
  const fd = openSync(target, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** The console routes a metric-sending agent needs beyond the fake's built-in ones. */
export function routeMetrics(fake: FakeConsole, checks: { type: string; interval: number }[] = BUSY_CHECKS): void {
  fake.route("GET", "/api/metrics/config/", () => ({ status: 200, body: checks }));
  fake.route("POST", /^\/api\/metrics\//, () => ({ status: 201, body: {} }));
  fake.route("PATCH", "/api/servers/servers/-/status/", () => ({ status: 200, body: {} }));
}

/**
 * The agent's argv: ALPAMON_BIN (a compiled binary), ALPAMON_BIN=src (bun src/main.ts), else dist/.
 */
export function agentArgv(): string[] {
  const bin = process.env.ALPAMON_BIN;
  if (bin === "src") return [process.execPath, join(import.meta.dir, "..", "src", "main.ts")];
  return [bin ?? join(import.meta.dir, "..", "dist", "alpamon-linux-x64")];
}

/** Starts the agent for `fake` in `dir`; `env` adds to a minimal environment. Its log goes to dir/agent.log. */
export function spawnAgent(fake: FakeConsole, dir: string, env: Record<string, string> = {}): ReturnType<typeof Bun.spawn> {
  const config = writeAgentConfig(fake, dir);
  return Bun.spawn([...agentArgv(), "--config", config], {
    cwd: "/",
    stdin: "ignore",
    stdout: "ignore",
    stderr: Bun.file(join(dir, "agent.log")),
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: "/nonexistent-home", ...env },
  });
}

export interface Footprint {
  rss: number;
  anon: number;
  threads: number;
  fds: number;
  /** utime + stime of the process itself (children not included). */
  cpuTicks: number;
}

export function footprint(pid: number): Footprint {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+)`, "m").exec(status)?.[1] ?? 0) * 1024;
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return {
    rss: kb("VmRSS"),
    anon: kb("RssAnon"),
    threads: Number(/^Threads:\s+(\d+)/m.exec(status)?.[1] ?? 0),
    fds: readdirSync(`/proc/${pid}/fd`).length,
    cpuTicks: Number(stat[11]) + Number(stat[12]) + Number(stat[13]) + Number(stat[14]), // utime stime cutime cstime
  };
}

/** A process's major faults (/proc/<pid>/stat) and bytes it had read from the block layer (/proc/<pid>/io). */
export function ioCounters(pid: number): { majflt: number; readBytes: number } {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    const io = readFileSync(`/proc/${pid}/io`, "utf8");
    return { majflt: Number(stat[9]), readBytes: Number(/^read_bytes: (\d+)$/m.exec(io)?.[1] ?? 0) };
  } catch {
    return { majflt: 0, readBytes: 0 };
  }
}

/**
 * CPU time of one process's threads from /proc/<pid>/task/<tid>/schedstat (ns, finer than the tick counts of
 * /proc/<pid>/stat), by thread name with trailing digits folded into "#" ("Bun Pool 0" and "Bun Pool 1" count
 * together). A thread that exits keeps its last value, so a total never goes down.
 */
export class ThreadCpu {
  private live = new Map<string, number>();
  private readonly exited = new Map<string, number>();
  constructor(private readonly pid: number) {}

  /** Nanoseconds per thread name so far; throws when the process is gone. */
  byName(): Map<string, number> {
    const live = new Map<string, number>();
    for (const tid of readdirSync(`/proc/${this.pid}/task`)) {
      try {
        const comm = readFileSync(`/proc/${this.pid}/task/${tid}/comm`, "utf8").trim();
        live.set(`${tid}:${comm}`, Number(readFileSync(`/proc/${this.pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]));
      } catch {
        // exited meanwhile: its last value is kept below
      }
    }
    for (const [key, ns] of this.live) if (!live.has(key)) this.exited.set(key, ns);
    this.live = live;
    const names = new Map<string, number>();
    for (const source of [this.exited, live]) {
      for (const [key, ns] of source) {
        const name = key.slice(key.indexOf(":") + 1).replace(/\d+$/, "#");
        names.set(name, (names.get(name) ?? 0) + ns);
      }
    }
    return names;
  }

  /** Nanoseconds of all threads so far. */
  total(): number {
    let ns = 0;
    for (const n of this.byName().values()) ns += n;
    return ns;
  }
}

/** Every live descendant of `pid` (children, grandchildren, …), from /proc. */
export function descendants(pid: number): number[] {
  const parent = new Map<number, number>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      parent.set(Number(name), Number(readFileSync(`/proc/${name}/stat`, "utf8").split(") ")[1]!.split(" ")[1]));
    } catch {
      // gone meanwhile
    }
  }
  const out: number[] = [];
  const frontier = [pid];
  while (frontier.length > 0) {
    const p = frontier.pop()!;
    for (const [child, ppid] of parent) {
      if (ppid === p) {
        out.push(child);
        frontier.push(child);
      }
    }
  }
  return out;
}

export const mb = (bytes: number): string => (bytes / 1048576).toFixed(1);

/** Least-squares slope of y over x. */
export function slope(points: [number, number][]): number {
  const n = points.length;
  if (n < 2) return 0;
  const mx = points.reduce((s, [x]) => s + x, 0) / n;
  const my = points.reduce((s, [, y]) => s + y, 0) / n;
  const num = points.reduce((s, [x, y]) => s + (x - mx) * (y - my), 0);
  const den = points.reduce((s, [x]) => s + (x - mx) ** 2, 0);
  return den === 0 ? 0 : num / den;
}

/** Where a process's RSS is, from /proc/<pid>/smaps: its own executable's pages, other files, anonymous. */
export function rssBreakdown(pid: number): { executable: number; otherFiles: number; anon: number } {
  const exe = readlinkSync(`/proc/${pid}/exe`);
  const out = { executable: 0, otherFiles: 0, anon: 0 };
  let name = "";
  for (const line of readFileSync(`/proc/${pid}/smaps`, "utf8").split("\n")) {
    const mapping = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (mapping) {
      name = mapping[1] ?? "";
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    const anon = /^Anonymous:\s+(\d+) kB/.exec(line);
    if (anon) out.anon += Number(anon[1]) * 1024;
    if (!rss) continue;
    if (name === exe) out.executable += Number(rss[1]) * 1024;
    else if (name.startsWith("/")) out.otherFiles += Number(rss[1]) * 1024;
  }
  return out;
}
