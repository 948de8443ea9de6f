// /proc/meminfo probe: fields in bytes, and memory used/usage by both the MemAvailable and the reference formula.
// Pure parsing and arithmetic apart from the one-line reader; never spawns a process.
import { readFileSync } from "node:fs";

/** Every /proc/meminfo field by name, in bytes for `kB` fields and as-is for counts (HugePages_*). */
export type Meminfo = Record<string, number>;

export function parseMeminfo(text: string): Meminfo {
  const info: Meminfo = {};
  for (const line of text.split("\n")) {
    const match = /^([^:\s]+):\s+(\d+)(?:\s+(kB))?\s*$/.exec(line);
    if (!match) continue;
    const value = Number(match[2]);
    info[match[1]!] = match[3] ? value * 1024 : value;
  }
  return info;
}

/** Reads and parses `<root>/meminfo`; throws when missing or without MemTotal. */
export function readMeminfo(root = "/proc"): Meminfo {
  const info = parseMeminfo(readFileSync(`${root}/meminfo`, "utf8"));
  if (info.MemTotal === undefined) throw new Error(`${root}/meminfo has no MemTotal`);
  return info;
}

export interface MemoryUsage {
  total: number;
  /** The reported figure: MemTotal − MemAvailable, or the reference formula when MemAvailable is absent. */
  used: number;
  usage: number;
  /** Where `used` came from: the kernel's MemAvailable estimate, or the reference formula (kernels < 3.14). */
  basis: "MemAvailable" | "reference";
  /** gopsutil's figure, as the Go agent reports it: MemTotal − MemFree − Buffers − (Cached + SReclaimable). */
  used_reference: number;
  usage_reference: number;
}

function percentOf(part: number, total: number): number {
  if (!(total > 0)) return 0;
  return Math.min(100, Math.max(0, (part / total) * 100));
}

/**
 * `used`/`usage` are MemTotal − MemAvailable: MemAvailable is the kernel's own estimate of what can be
 * handed out without swapping, and unlike the reference formula it counts shmem/tmpfs (inside Cached,
 * but not reclaimable) as used. The reference figure stays available as `used_reference`/`usage_reference`.
 */
export function memoryUsage(info: Meminfo): MemoryUsage {
  const total = info.MemTotal ?? 0;
  const field = (name: string) => info[name] ?? 0;
  const usedReference = Math.max(0, total - field("MemFree") - field("Buffers") - (field("Cached") + field("SReclaimable")));
  const available = info.MemAvailable;
  const used = available === undefined ? usedReference : Math.max(0, total - available);
  return {
    total,
    used,
    usage: percentOf(used, total),
    basis: available === undefined ? "reference" : "MemAvailable",
    used_reference: usedReference,
    usage_reference: percentOf(usedReference, total),
  };
}
