// Benchmark: CPU time of one sampling cycle of every realtime probe on this host's /proc and /sys, median over
// 1,000 cycles: (1) the probes alone (read + parse + rates), (2) the realtime checks as the collector runs
// them (probes + SQLite inserts into a WAL state DB; the outbox hand-off is a no-op here).
// Run: node_modules/.bin/bun bench/metrics-cycle.ts
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openStateDb } from "../src/db/open.ts";
import { silentLogger } from "../src/log/logger.ts";
import { systemClock } from "../src/platform/clock.ts";
import { Problems, type CheckContext } from "../src/capabilities/metrics/checks/context.ts";
import { cpuCheck, diskIoCollector, diskUsageCheck, memoryCheck, netCollector } from "../src/capabilities/metrics/checks/realtime.ts";
import { cpuUsage, readStat } from "../src/capabilities/metrics/probes/stat.ts";
import { memoryUsage, readMeminfo } from "../src/capabilities/metrics/probes/meminfo.ts";
import { diskUsage, readMountinfo, selectBlockMounts, sysfsDeviceResolver } from "../src/capabilities/metrics/probes/mountinfo.ts";
import { diskIoRates, filterWholeDisks, readDiskstats, readWholeDiskNames } from "../src/capabilities/metrics/probes/diskstats.ts";
import { isReportedInterface, readInterfaceFacts, readNetDev, trafficRates } from "../src/capabilities/metrics/probes/netdev.ts";

const CYCLES = 1_000;

function cpuMicros(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

async function measure(name: string, cycle: () => void | Promise<void>): Promise<{ name: string; median: number; p95: number; wallMedian: number }> {
  for (let i = 0; i < 50; i++) await cycle(); // warm-up
  const cpu: number[] = [];
  const wall: number[] = [];
  for (let i = 0; i < CYCLES; i++) {
    const c0 = cpuMicros();
    const w0 = performance.now();
    await cycle();
    wall.push((performance.now() - w0) * 1000);
    cpu.push(cpuMicros() - c0);
  }
  const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
  const cs = sorted(cpu);
  return { name, median: cs[CYCLES / 2]!, p95: cs[Math.floor(CYCLES * 0.95)]!, wallMedian: sorted(wall)[CYCLES / 2]! };
}

let prevTicks = readStat();
let prevDisks = readDiskstats();
let prevNet = readNetDev();
let prevAt = performance.now();
const probes = await measure("probes only (statfsSync)", () => {
  const ticks = readStat();
  cpuUsage(prevTicks, ticks);
  prevTicks = ticks;
  memoryUsage(readMeminfo());
  for (const m of selectBlockMounts(readMountinfo(), sysfsDeviceResolver())) diskUsage(m.mountPoint);
  const at = performance.now();
  const disks = filterWholeDisks(readDiskstats(), readWholeDiskNames());
  diskIoRates(prevDisks, disks, (at - prevAt) / 1000);
  prevDisks = disks;
  const net = readNetDev().filter((i) => isReportedInterface(readInterfaceFacts(i.name)));
  trafficRates(prevNet, net, (at - prevAt) / 1000);
  prevNet = net;
  prevAt = at;
});

const dir = mkdtempSync(join(tmpdir(), "alpamon-bench-metrics-"));
const state = openStateDb(join(dir, "alpamon.db"));
const ctx: CheckContext = {
  state,
  clock: systemClock,
  log: silentLogger,
  enqueue: () => 1,
  procRoot: "/proc",
  sysRoot: "/sys",
  statfs: undefined, // the agent's default: node:fs's asynchronous statfs, with a timeout
  statfsTimeoutMs: 5_000,
  problems: new Problems(silentLogger),
};
const checks = [cpuCheck(ctx), memoryCheck(ctx), diskUsageCheck(ctx), diskIoCollector(ctx), netCollector(ctx)];
const signal = new AbortController().signal;
const withDb = await measure("realtime checks (probes + SQLite)", async () => {
  for (const run of checks) await run(signal);
});
state.close();
rmSync(dir, { recursive: true, force: true });

console.log(`${CYCLES} cycles on ${process.platform}/${process.arch}, Bun ${Bun.version}`);
for (const r of [probes, withDb]) {
  console.log(`${r.name.padEnd(38)} CPU median ${(r.median / 1000).toFixed(3)} ms  p95 ${(r.p95 / 1000).toFixed(3)} ms  wall median ${(r.wallMedian / 1000).toFixed(3)} ms`);
}
