// One-shot sampler behind `alpamon --once`: reads the probes twice over a short window and prints the result.
// Never spawns a process and never throws for a missing source: that section is empty (cpu usage 0) and listed in `unavailable`.
import { systemClock, type Clock } from "../../platform/clock.ts";
import { cpuUsage, readStat, type CpuTicks } from "../../platform/proc/stat.ts";
import { memoryUsage, readMeminfo } from "../../platform/proc/meminfo.ts";
import { diskUsage, readMountinfo, selectBlockMounts, sysfsDeviceResolver, type Statfs } from "../../platform/proc/mountinfo.ts";
import { diskIoRates, filterWholeDisks, readDiskstats, readWholeDiskNames, type DiskCounters } from "../../platform/proc/diskstats.ts";
import { isReportedInterface, readInterfaceFacts, readNetDev, trafficRates, type InterfaceCounters } from "../../platform/proc/netdev.ts";

export interface OnceSample {
  /** End of the measuring window, ISO-8601 UTC. */
  timestamp: string;
  cpu: { usage: number };
  memory: {
    usage: number;
    total: number;
    used: number;
    /** "MemAvailable" (used = MemTotal − MemAvailable) or "reference" (kernels < 3.14, no MemAvailable). */
    basis: "MemAvailable" | "reference";
    /** The Go agent's figure: MemTotal − MemFree − Buffers − (Cached + SReclaimable). */
    used_reference: number;
    usage_reference: number;
  };
  disk_usage: { device: string; mount_point: string; usage: number; total: number; free: number; used: number }[];
  /** bytes per second. */
  disk_io: { device: string; read_bps: number; write_bps: number }[];
  /** bits per second and packets per second. */
  traffic: { name: string; input_bps: number; output_bps: number; input_pps: number; output_pps: number }[];
  /** Sources that could not be read (e.g. "/proc/diskstats", "statfs /mnt/nfs"); their sections are empty. */
  unavailable: string[];
}

export interface SampleOptions {
  procRoot?: string;
  sysRoot?: string;
  /** Length of the rate window; rates are divided by the measured elapsed time, not by this. */
  windowMs?: number;
  clock?: Clock;
  /** statfs used for disk usage; tests pass numbers for the fixture tree's mount points. */
  statfs?: Statfs;
}

interface Counters {
  cpu: CpuTicks | undefined;
  disks: DiskCounters[] | undefined;
  interfaces: InterfaceCounters[] | undefined;
}

export async function takeOnceSample(opts: SampleOptions = {}): Promise<OnceSample> {
  const procRoot = opts.procRoot ?? "/proc";
  const sysRoot = opts.sysRoot ?? "/sys";
  const clock = opts.clock ?? systemClock;
  const unavailable = new Set<string>();

  function attempt<T>(source: string, read: () => T): T | undefined {
    try {
      return read();
    } catch {
      unavailable.add(source);
      return undefined;
    }
  }

  const readCounters = (): Counters => ({
    cpu: attempt("/proc/stat", () => readStat(procRoot)),
    disks: attempt("/proc/diskstats", () => readDiskstats(procRoot)),
    interfaces: attempt("/proc/net/dev", () => readNetDev(procRoot)),
  });

  // Both marks are taken just before an identical batch of reads, so the read time cancels out.
  const startedAt = clock.monotonic();
  const before = readCounters();
  await clock.sleep(opts.windowMs ?? 1000);
  const endedAt = clock.monotonic();
  const after = readCounters();
  const timestamp = new Date(clock.now()).toISOString();
  const elapsedSeconds = (endedAt - startedAt) / 1000;

  const cpu = { usage: before.cpu && after.cpu ? cpuUsage(before.cpu, after.cpu) : 0 };

  const meminfo = attempt("/proc/meminfo", () => readMeminfo(procRoot));
  const memory = memoryUsage(meminfo ?? {});

  const mounts = attempt("/proc/self/mountinfo", () => readMountinfo(procRoot)) ?? [];
  const disk_usage: OnceSample["disk_usage"] = [];
  for (const mount of selectBlockMounts(mounts, sysfsDeviceResolver(sysRoot))) {
    const usage = attempt(`statfs ${mount.mountPoint}`, () => diskUsage(mount.mountPoint, opts.statfs));
    if (!usage) continue;
    const { total, free, used } = usage;
    disk_usage.push({ device: mount.device, mount_point: mount.mountPoint, usage: usage.usage, total, free, used });
  }

  let disk_io: OnceSample["disk_io"] = [];
  if (before.disks && after.disks) {
    const wholeDisks = attempt("/sys/block", () => readWholeDiskNames(sysRoot));
    if (wholeDisks) {
      // Rates come out for entries of the second snapshot only, so filtering that one is enough.
      disk_io = diskIoRates(before.disks, filterWholeDisks(after.disks, wholeDisks), elapsedSeconds);
    }
  }

  let traffic: OnceSample["traffic"] = [];
  if (before.interfaces && after.interfaces) {
    const reported = (iface: InterfaceCounters) => isReportedInterface(readInterfaceFacts(iface.name, sysRoot));
    traffic = trafficRates(before.interfaces, after.interfaces.filter(reported), elapsedSeconds);
  }

  return {
    timestamp,
    cpu,
    memory: {
      usage: memory.usage,
      total: memory.total,
      used: memory.used,
      basis: memory.basis,
      used_reference: memory.used_reference,
      usage_reference: memory.usage_reference,
    },
    disk_usage,
    disk_io,
    traffic,
    unavailable: [...unavailable],
  };
}

function humanise(value: number, base: number, units: readonly string[]): string {
  let scaled = value;
  let unit = 0;
  while (Math.abs(scaled) >= base && unit < units.length - 1) {
    scaled /= base;
    unit++;
  }
  return unit === 0 ? `${Math.round(scaled)} ${units[0]}` : `${scaled.toFixed(1)} ${units[unit]}`;
}

export const formatBytes = (bytes: number) => humanise(bytes, 1024, ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]);
export const formatByteRate = (bytesPerSecond: number) => `${formatBytes(bytesPerSecond)}/s`;
export const formatBitRate = (bitsPerSecond: number) => humanise(bitsPerSecond, 1000, ["bit/s", "kbit/s", "Mbit/s", "Gbit/s", "Tbit/s"]);
const formatPercent = (percent: number) => `${percent.toFixed(1)}%`;
const formatPacketRate = (packetsPerSecond: number) => `${packetsPerSecond.toFixed(1)} pkt/s`;

/** Columns separated by two spaces; the first `textColumns` left-aligned, the numbers right-aligned. */
function renderTable(headers: readonly string[], rows: readonly string[][], textColumns: number): string[] {
  const widths = headers.map((header, col) => Math.max(header.length, ...rows.map((row) => row[col]!.length)));
  const render = (cells: readonly string[]) =>
    cells
      .map((cell, col) => (col < textColumns ? cell.padEnd(widths[col]!) : cell.padStart(widths[col]!)))
      .join("  ")
      .trimEnd();
  return [headers, ...rows].map((cells) => `  ${render(cells)}`);
}

function section(title: string, headers: readonly string[], rows: readonly string[][], textColumns = 1): string[] {
  return ["", title, ...(rows.length ? renderTable(headers, rows, textColumns) : ["  (none)"])];
}

export function formatOnceTable(sample: OnceSample): string {
  const { memory } = sample;
  const lines = [
    `Sample at ${sample.timestamp}`,
    "",
    `CPU     ${formatPercent(sample.cpu.usage)}`,
    `Memory  ${formatPercent(memory.usage)}  ${formatBytes(memory.used)} used of ${formatBytes(memory.total)}` +
      (memory.basis === "MemAvailable"
        ? `  (reference formula: ${formatPercent(memory.usage_reference)})`
        : "  (reference formula; no MemAvailable)"),
    ...section(
      "Disk usage",
      ["DEVICE", "MOUNT POINT", "USAGE", "USED", "FREE", "TOTAL"],
      sample.disk_usage.map((d) => [
        d.device,
        d.mount_point,
        formatPercent(d.usage),
        formatBytes(d.used),
        formatBytes(d.free),
        formatBytes(d.total),
      ]),
      2,
    ),
    ...section(
      "Disk I/O",
      ["DEVICE", "READ", "WRITE"],
      sample.disk_io.map((d) => [d.device, formatByteRate(d.read_bps), formatByteRate(d.write_bps)]),
    ),
    ...section(
      "Network",
      ["INTERFACE", "IN", "OUT", "IN PACKETS", "OUT PACKETS"],
      sample.traffic.map((t) => [
        t.name,
        formatBitRate(t.input_bps),
        formatBitRate(t.output_bps),
        formatPacketRate(t.input_pps),
        formatPacketRate(t.output_pps),
      ]),
    ),
  ];
  if (sample.unavailable.length) lines.push("", `Unavailable: ${sample.unavailable.join(", ")}`);
  return `${lines.join("\n")}\n`;
}
