// Benchmark: CPU time of one sampling cycle of every realtime probe on this host's /proc and /sys, median over
// 1,000 cycles: (1) the probes alone (read + parse + rates), (2) the realtime checks as the collector runs
// them (probes + SQLite inserts into a WAL state DB; the outbox hand-off is a no-op here).
// (3) below: drizzle prepared statements against raw ones on the state DB hot paths.
// Run: node_modules/.bin/bun bench/metrics-cycle.ts
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openStateDb } from "../src/db/open.ts";
import { silentLogger } from "../src/log/logger.ts";
import { systemClock } from "../src/platform/clock.ts";
import { Problems, type CheckContext } from "../src/capabilities/metrics/checks/context.ts";
import { cpuCheck } from "../src/capabilities/metrics/checks/cpu.ts";
import { diskIoCollector } from "../src/capabilities/metrics/checks/disk-io-collector.ts";
import { diskUsageCheck } from "../src/capabilities/metrics/checks/disk-usage.ts";
import { memoryCheck } from "../src/capabilities/metrics/checks/memory.ts";
import { netCollector } from "../src/capabilities/metrics/checks/net-collector.ts";
import { createMetricsStore } from "../src/db/metrics.ts";
import { createSeenCommandsStore } from "../src/db/seen-commands.ts";
import { cpuUsage, readStat } from "../src/platform/proc/stat.ts";
import { memoryUsage, readMeminfo } from "../src/platform/proc/meminfo.ts";
import { diskUsage, readMountinfo, selectBlockMounts, sysfsDeviceResolver } from "../src/platform/proc/mountinfo.ts";
import { diskIoRates, filterWholeDisks, readDiskstats, readWholeDiskNames } from "../src/platform/proc/diskstats.ts";
import { isReportedInterface, readInterfaceFacts, readNetDev, trafficRates } from "../src/platform/proc/netdev.ts";

const CYCLES = 1_000;

function cpuMicros(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

async function measure(
  name: string,
  cycle: () => void | Promise<void>,
): Promise<{ name: string; median: number; p95: number; wallMedian: number }> {
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
  metrics: createMetricsStore(state),
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
  console.log(
    `${r.name.padEnd(38)} CPU median ${(r.median / 1000).toFixed(3)} ms  p95 ${(r.p95 / 1000).toFixed(3)} ms  wall median ${(r.wallMedian / 1000).toFixed(3)} ms`,
  );
}

// (3) Statement cost, drizzle prepared statements (src/db/) against the same SQL as raw bun:sqlite prepared
// statements, on one WAL state DB, alternating rounds so both see the same cache and WAL state. Each op runs
// `OPS` times per round inside one BEGIN IMMEDIATE (writes) or bare (reads); median ns per op over the rounds.
{
  const OPS = 2_000;
  const ROUNDS = 15;
  const sdir = mkdtempSync(join(tmpdir(), "alpamon-bench-statements-"));
  const s = openStateDb(join(sdir, "alpamon.db"));
  const store = createMetricsStore(s);
  const seen = createSeenCommandsStore(s.sqlite);
  const raw = {
    cpu: s.sqlite.prepare('INSERT INTO cpu_samples ("timestamp", usage) VALUES (?1, ?2)'),
    io: s.sqlite.prepare('INSERT INTO disk_io_samples ("timestamp", device, read_bps, write_bps) VALUES (?1, ?2, ?3, ?4)'),
    window: s.sqlite.prepare(
      `SELECT device, MAX(write_bps) AS peak_write_bps, MAX(read_bps) AS peak_read_bps,
              AVG(write_bps) AS avg_write_bps, AVG(read_bps) AS avg_read_bps
       FROM disk_io_samples WHERE "timestamp" > ?1 AND "timestamp" <= ?2 GROUP BY device ORDER BY device`,
    ),
    seenGet: s.sqlite.prepare("SELECT seen_at FROM seen_commands WHERE id = ?1"),
    seenPut: s.sqlite.prepare("INSERT OR REPLACE INTO seen_commands (id, seen_at) VALUES (?1, ?2)"),
  };
  const tx = (work: () => void) => s.sqlite.transaction(work).immediate();
  let t = 0;
  const pairs: [string, () => void, () => void][] = [
    [
      "insert cpu sample (1 row / tx)",
      () => {
        for (let i = 0; i < OPS; i++) store.record(++t, { cpu: 12.5 });
      },
      () => {
        for (let i = 0; i < OPS; i++) tx(() => void raw.cpu.run(++t, 12.5));
      },
    ],
    [
      "insert disk-io samples (4 rows / tx)",
      () => {
        for (let i = 0; i < OPS; i++)
          store.record(++t, { diskIo: ["sda", "sdb", "nvme0n1", "vda"].map((device) => ({ device, readBps: 1, writeBps: 2 })) });
      },
      () => {
        for (let i = 0; i < OPS; i++)
          tx(() => {
            ++t;
            for (const d of ["sda", "sdb", "nvme0n1", "vda"]) raw.io.run(t, d, 1, 2);
          });
      },
    ],
    [
      "disk-io sender window (60 s of 4 disks)",
      () => {
        for (let i = 0; i < OPS / 10; i++) store.diskIoWindow(t - 60, t);
      },
      () => {
        for (let i = 0; i < OPS / 10; i++) raw.window.all(t - 60, t);
      },
    ],
    [
      "seen command: lookup + remember",
      () => {
        for (let i = 0; i < OPS; i++) {
          const id = `cmd-${++t}`;
          seen.seenAt(id);
          seen.remember(id, t);
        }
      },
      () => {
        for (let i = 0; i < OPS; i++) {
          const id = `cmd-${++t}`;
          raw.seenGet.get(id);
          raw.seenPut.run(id, t);
        }
      },
    ],
  ];
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  console.log(`\nstatement cost, drizzle prepared vs raw bun:sqlite prepared (median of ${ROUNDS} rounds, ns/op):`);
  for (const [name, viaDrizzle, viaRaw] of pairs) {
    const perOp = name.startsWith("disk-io sender") ? OPS / 10 : OPS;
    viaDrizzle();
    viaRaw(); // warm-up
    const d: number[] = [];
    const r: number[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      for (const [run, into] of round % 2
        ? ([
            [viaDrizzle, d],
            [viaRaw, r],
          ] as const)
        : ([
            [viaRaw, r],
            [viaDrizzle, d],
          ] as const)) {
        const t0 = Bun.nanoseconds();
        run();
        into.push((Bun.nanoseconds() - t0) / perOp);
      }
    }
    const [md, mr] = [median(d), median(r)];
    console.log(`${name.padEnd(40)} drizzle ${md.toFixed(0).padStart(7)}  raw ${mr.toFixed(0).padStart(7)}  ratio ${(md / mr).toFixed(2)}`);
  }
  s.close();
  rmSync(sdir, { recursive: true, force: true });
}
