// The realtime checks: cpu, memory and disk-usage (sample, store, send), the disk-io and net collectors
// (store rates only) and their senders (peak/avg of exactly the last interval). Reads /proc, /sys and statfs
// only: never spawns a process, and never emits a rate without a baseline or from a counter that went back.
import { cpuUsage, readStat, type CpuTicks } from "../probes/stat.ts";
import { memoryUsage, readMeminfo } from "../probes/meminfo.ts";
import { promises as fsp } from "node:fs";
import { readMountinfo, selectBlockMounts, sysfsDeviceResolver, usageFromStatfs, type DiskUsage, type StatfsNumbers } from "../probes/mountinfo.ts";
import { diskIoRates, filterWholeDisks, readDiskstats, readWholeDiskNames, type DiskCounters } from "../probes/diskstats.ts";
import { isReportedInterface, readInterfaceFacts, readNetDev, trafficRates, type InterfaceCounters } from "../probes/netdev.ts";
import { iso, postMetric, type CheckContext, type CheckRun } from "./context.ts";

export const REALTIME_PATHS = {
  cpu: "/api/metrics/realtime/cpu/",
  memory: "/api/metrics/realtime/memory/",
  diskUsage: "/api/metrics/realtime/disk-usage/",
  diskIo: "/api/metrics/realtime/disk-io/",
  traffic: "/api/metrics/realtime/traffic/",
} as const;

/** Busy % since this check's previous run; the first run only takes the baseline. */
export function cpuCheck(ctx: CheckContext): CheckRun {
  let previous: CpuTicks | undefined;
  return () => {
    const source = `${ctx.procRoot}/stat`;
    const ticks = ctx.problems.attempt(source, "cannot read CPU ticks; skipping the cpu sample", () => readStat(ctx.procRoot));
    const before = previous;
    previous = ticks;
    if (!ticks || !before) return;
    const usage = cpuUsage(before, ticks);
    const timestamp = ctx.clock.now();
    ctx.state.sqlite.query('INSERT INTO cpu_samples ("timestamp", usage) VALUES (?1, ?2)').run(timestamp, usage);
    postMetric(ctx, REALTIME_PATHS.cpu, [{ timestamp: iso(timestamp), usage }]);
  };
}

/** Memory used % (MemTotal − MemAvailable, as `alpamon --once` reports it). */
export function memoryCheck(ctx: CheckContext): CheckRun {
  return () => {
    const source = `${ctx.procRoot}/meminfo`;
    const info = ctx.problems.attempt(source, "cannot read memory figures; skipping the memory sample", () => readMeminfo(ctx.procRoot));
    if (!info) return;
    const { usage } = memoryUsage(info);
    const timestamp = ctx.clock.now();
    ctx.state.sqlite.query('INSERT INTO memory_samples ("timestamp", usage) VALUES (?1, ?2)').run(timestamp, usage);
    postMetric(ctx, REALTIME_PATHS.memory, [{ timestamp: iso(timestamp), usage }]);
  };
}

/**
 * statfs of every real block-device mount, in parallel and off the event loop, each bounded by a timeout; a
 * mount that fails or hangs is skipped (and not asked again while its earlier call is still stuck).
 */
export function diskUsageCheck(ctx: CheckContext): CheckRun {
  const stuck = new Set<string>();
  return async () => {
    const mounts = ctx.problems.attempt(`${ctx.procRoot}/mountinfo`, "cannot read the mount table; skipping disk usage", () =>
      readMountinfo(ctx.procRoot),
    );
    if (!mounts) return;
    const timestamp = ctx.clock.now();
    const selected = selectBlockMounts(mounts, sysfsDeviceResolver(ctx.sysRoot));
    const results = await Promise.all(selected.map((m) => statfsWithin(ctx, m.mountPoint, stuck).then(usageFromStatfs).then((u) => u, (err: unknown) => err as Error)));
    const measured: { device: string; mountPoint: string; usage: DiskUsage }[] = [];
    selected.forEach((mount, i) => {
      const result = results[i]!;
      const key = `statfs ${mount.mountPoint}`;
      if (result instanceof Error) return ctx.problems.report(key, "cannot statfs a mount; skipping it", result);
      ctx.problems.clear(key);
      measured.push({ device: mount.device, mountPoint: mount.mountPoint, usage: result });
    });
    if (measured.length === 0) return;
    const insert = ctx.state.sqlite.query(
      'INSERT INTO disk_usage_samples ("timestamp", device, mount_point, usage, total, free, used) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)',
    );
    ctx.state.sqlite.transaction(() => {
      for (const { device, mountPoint, usage: u } of measured) {
        insert.run(timestamp, device, mountPoint, u.usage, Math.round(u.total), Math.round(u.free), Math.round(u.used));
      }
    }).immediate();
    postMetric(
      ctx,
      REALTIME_PATHS.diskUsage,
      measured.map(({ device, usage: u }) => ({ timestamp: iso(timestamp), device, usage: u.usage, total: u.total, free: u.free, used: u.used })),
    );
  };
}

async function statfsWithin(ctx: CheckContext, mountPoint: string, stuck: Set<string>): Promise<StatfsNumbers> {
  if (stuck.has(mountPoint)) throw new Error("an earlier statfs of this mount has not returned yet");
  const statfs = ctx.statfs ?? ((path: string) => fsp.statfs(path));
  const call = (async () => statfs(mountPoint))();
  stuck.add(mountPoint);
  call.finally(() => stuck.delete(mountPoint)).catch(() => {});
  const cancel = new AbortController();
  const timeout = ctx.clock.sleep(ctx.statfsTimeoutMs, cancel.signal).then(
    () => Promise.reject(new Error(`statfs did not answer within ${ctx.statfsTimeoutMs} ms`)),
    () => new Promise<never>(() => {}), // cancelled: the call won the race
  );
  try {
    return await Promise.race([call, timeout]);
  } finally {
    cancel.abort();
  }
}

interface Snapshot<T> {
  counters: T[];
  /** Monotonic ms when the counters were read. */
  at: number;
}

/** Bytes/s per whole disk since this collector's previous run, divided by the measured elapsed time. */
export function diskIoCollector(ctx: CheckContext): CheckRun {
  let previous: Snapshot<DiskCounters> | undefined;
  return () => {
    const at = ctx.clock.monotonic();
    const all = ctx.problems.attempt(`${ctx.procRoot}/diskstats`, "cannot read disk counters; skipping disk I/O", () =>
      readDiskstats(ctx.procRoot),
    );
    const whole = all && ctx.problems.attempt(`${ctx.sysRoot}/block`, "cannot list whole disks; skipping disk I/O", () => readWholeDiskNames(ctx.sysRoot));
    const before = previous;
    previous = all && whole ? { counters: filterWholeDisks(all, whole), at } : undefined;
    if (!previous || !before) return;
    const rates = diskIoRates(before.counters, previous.counters, (at - before.at) / 1000);
    if (rates.length === 0) return;
    const timestamp = ctx.clock.now();
    const insert = ctx.state.sqlite.query('INSERT INTO disk_io_samples ("timestamp", device, read_bps, write_bps) VALUES (?1, ?2, ?3, ?4)');
    ctx.state.sqlite.transaction(() => {
      for (const r of rates) insert.run(timestamp, r.device, r.read_bps, r.write_bps);
    }).immediate();
  };
}

/** Bits/s and packets/s per reported interface since this collector's previous run. */
export function netCollector(ctx: CheckContext): CheckRun {
  let previous: Snapshot<InterfaceCounters> | undefined;
  return () => {
    const at = ctx.clock.monotonic();
    const all = ctx.problems.attempt(`${ctx.procRoot}/net/dev`, "cannot read interface counters; skipping traffic", () =>
      readNetDev(ctx.procRoot),
    );
    const before = previous;
    previous = all && { counters: all.filter((i) => isReportedInterface(readInterfaceFacts(i.name, ctx.sysRoot))), at };
    if (!previous || !before) return;
    const rates = trafficRates(before.counters, previous.counters, (at - before.at) / 1000);
    if (rates.length === 0) return;
    const timestamp = ctx.clock.now();
    const insert = ctx.state.sqlite.query(
      'INSERT INTO traffic_samples ("timestamp", name, input_pps, input_bps, output_pps, output_bps) VALUES (?1, ?2, ?3, ?4, ?5, ?6)',
    );
    ctx.state.sqlite.transaction(() => {
      for (const r of rates) insert.run(timestamp, r.name, r.input_pps, r.input_bps, r.output_pps, r.output_bps);
    }).immediate();
  };
}

/**
 * The window a sender aggregates: (start, end] with end = now and start = now − interval, but never before
 * the previous send's end, so consecutive sends neither overlap nor double-count a sample.
 */
function windowTracker(ctx: CheckContext, intervalMs: number): () => { start: number; end: number } {
  let lastEnd: number | undefined;
  return () => {
    const end = ctx.clock.now();
    const start = Math.max(end - intervalMs, lastEnd !== undefined && lastEnd <= end ? lastEnd : -Infinity);
    lastEnd = end;
    return { start, end };
  };
}

/** Peak and average bytes/s per disk over exactly the last interval; nothing is sent for an empty window. */
export function diskIoSender(ctx: CheckContext, intervalMs: number): CheckRun {
  const window = windowTracker(ctx, intervalMs);
  return () => {
    const { start, end } = window();
    const rows = ctx.state.sqlite
      .query(
        `SELECT device, MAX(write_bps) AS peak_write_bps, MAX(read_bps) AS peak_read_bps,
                AVG(write_bps) AS avg_write_bps, AVG(read_bps) AS avg_read_bps
         FROM disk_io_samples WHERE "timestamp" > ?1 AND "timestamp" <= ?2 GROUP BY device ORDER BY device`,
      )
      .all(start, end) as Record<string, unknown>[];
    if (rows.length === 0) return;
    postMetric(ctx, REALTIME_PATHS.diskIo, rows.map((r) => ({ timestamp: iso(end), ...r })));
  };
}

/** Peak and average traffic per interface over exactly the last interval; nothing is sent for an empty window. */
export function netSender(ctx: CheckContext, intervalMs: number): CheckRun {
  const window = windowTracker(ctx, intervalMs);
  return () => {
    const { start, end } = window();
    const rows = ctx.state.sqlite
      .query(
        `SELECT name, MAX(input_pps) AS peak_input_pps, MAX(input_bps) AS peak_input_bps,
                MAX(output_pps) AS peak_output_pps, MAX(output_bps) AS peak_output_bps,
                AVG(input_pps) AS avg_input_pps, AVG(input_bps) AS avg_input_bps,
                AVG(output_pps) AS avg_output_pps, AVG(output_bps) AS avg_output_bps
         FROM traffic_samples WHERE "timestamp" > ?1 AND "timestamp" <= ?2 GROUP BY name ORDER BY name`,
      )
      .all(start, end) as Record<string, unknown>[];
    if (rows.length === 0) return;
    postMetric(ctx, REALTIME_PATHS.traffic, rows.map((r) => ({ timestamp: iso(end), ...r })));
  };
}
