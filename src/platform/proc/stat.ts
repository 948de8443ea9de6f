// /proc/stat probe: the aggregate `cpu` line as typed tick counters, and CPU busy % between two snapshots.
// Pure parsing and arithmetic apart from the one-line reader; never spawns a process, never keeps state.
import { readFileSync } from "node:fs";

export interface CpuTicks {
  user: number;
  nice: number;
  system: number;
  idle: number;
  iowait: number;
  irq: number;
  softirq: number;
  steal: number;
  guest: number;
  guest_nice: number;
}

const TICK_FIELDS = [
  "user",
  "nice",
  "system",
  "idle",
  "iowait",
  "irq",
  "softirq",
  "steal",
  "guest",
  "guest_nice",
] as const satisfies readonly (keyof CpuTicks)[];

/** The aggregate `cpu` line of /proc/stat; undefined when absent. Fields older kernels lack are 0. */
export function parseStat(text: string): CpuTicks | undefined {
  for (const line of text.split("\n")) {
    const fields = line.trim().split(/\s+/);
    if (fields[0] !== "cpu") continue;
    const ticks = {} as CpuTicks;
    TICK_FIELDS.forEach((name, i) => {
      const value = Number(fields[i + 1] ?? 0);
      ticks[name] = Number.isFinite(value) ? value : 0;
    });
    return ticks;
  }
  return undefined;
}

/** Reads and parses `<root>/stat`; throws when the file is missing or has no `cpu` line. */
export function readStat(root = "/proc"): CpuTicks {
  const ticks = parseStat(readFileSync(`${root}/stat`, "utf8"));
  if (!ticks) throw new Error(`${root}/stat has no aggregate cpu line`);
  return ticks;
}

function totalTicks(t: CpuTicks): number {
  // guest and guest_nice are already counted inside user and nice.
  return t.user + t.nice + t.system + t.idle + t.iowait + t.irq + t.softirq + t.steal;
}

function busyTicks(t: CpuTicks): number {
  return totalTicks(t) - t.idle - t.iowait;
}

/**
 * Busy % between two snapshots, in [0, 100]. When no tick elapsed the answer is 0, not the
 * reference's 100: without elapsed ticks there is no evidence of load, and a spurious 100 % trips alerts.
 */
export function cpuUsage(prev: CpuTicks, cur: CpuTicks): number {
  const deltaTotal = totalTicks(cur) - totalTicks(prev);
  if (!(deltaTotal > 0)) return 0;
  const percent = ((busyTicks(cur) - busyTicks(prev)) / deltaTotal) * 100;
  return Math.min(100, Math.max(0, percent));
}
