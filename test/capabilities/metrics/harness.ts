// Test harness for the metrics pipeline: a state DB in a fresh temp dir, a recording outbox stand-in, a
// LogHub that keeps every line, a ManualClock, and a writable proc/sys tree. Cleans up even when a test fails.
import { afterEach } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import type { OutboxItem } from "../../../src/console/outbox/outbox.ts";
import { createMetricsStore } from "../../../src/db/metrics.ts";
import { openStateDb, type StateDb } from "../../../src/db/open.ts";
import { LogHub, type LogRecord } from "../../../src/log/logger.ts";
import { ManualClock } from "../../../src/platform/clock.ts";
import { Problems, type CheckContext } from "../../../src/capabilities/metrics/checks/context.ts";
import type { StatfsNumbers } from "../../../src/platform/proc/mountinfo.ts";

export interface Harness {
  dir: string;
  clock: ManualClock;
  state: StateDb;
  enqueued: OutboxItem[];
  records: LogRecord[];
  hub: LogHub;
  ctx: CheckContext;
  procRoot: string;
  sysRoot: string;
  /** Writes `text` to `<procRoot>/<rel>` (or sysRoot with `sys/` prefix), creating directories. */
  write(rel: string, text: string): void;
  statfsTable: Record<string, StatfsNumbers>;
  /** Mount points whose statfs never answers (a hung device). */
  hungMounts: Set<string>;
  bodies(path: string): unknown[];
}

export function useMetricsHarness(): (start?: number) => Harness {
  const cleanups: (() => void)[] = [];
  afterEach(() => {
    for (const c of cleanups.splice(0).reverse()) c();
  });
  return (start = Date.UTC(2026, 0, 1, 10, 0, 0)) => {
    const dir = mkdtempSync(join(tmpdir(), "alpamon-metrics-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const clock = new ManualClock(start);
    const state = openStateDb(join(dir, "alpamon.db"), { clock });
    cleanups.push(() => state.close());
    const records: LogRecord[] = [];
    const hub = new LogHub({ write: () => {}, close: () => {} }, "debug", () => clock.now());
    hub.listen((r) => records.push(r));
    const log = hub.logger("metrics");
    const enqueued: OutboxItem[] = [];
    const procRoot = join(dir, "proc");
    const sysRoot = join(dir, "sys");
    mkdirSync(procRoot);
    mkdirSync(sysRoot);
    const statfsTable: Record<string, StatfsNumbers> = {};
    const hungMounts = new Set<string>();
    const ctx: CheckContext = {
      state,
      metrics: createMetricsStore(state),
      clock,
      log,
      enqueue: (item) => {
        enqueued.push(item);
        return enqueued.length;
      },
      procRoot,
      sysRoot,
      statfsTimeoutMs: 5_000,
      statfs: (mountPoint) => {
        if (hungMounts.has(mountPoint)) return new Promise<StatfsNumbers>(() => {});
        const stats = statfsTable[mountPoint];
        if (!stats) throw new Error(`EIO: statfs ${mountPoint}`);
        return stats;
      },
      problems: new Problems(log),
    };
    const write = (rel: string, text: string) => {
      const path = rel.startsWith("sys/") ? join(sysRoot, rel.slice(4)) : join(procRoot, rel);
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, text);
    };
    const bodies = (path: string) => enqueued.filter((i) => i.path === path).map((i) => i.body);
    return { dir, clock, state, enqueued, records, hub, ctx, procRoot, sysRoot, write, statfsTable, hungMounts, bodies };
  };
}

/** A /proc/diskstats line (sectors read at field 6, written at field 10). */
export function diskstatsLine(major: number, minor: number, name: string, sectorsRead: number, sectorsWritten: number): string {
  return `${major} ${minor} ${name} 100 0 ${sectorsRead} 10 50 0 ${sectorsWritten} 20 0 30 30 0 0 0 0 0 0`;
}

/** A /proc/net/dev with the two header lines. */
export function netDev(rows: { name: string; rxBytes: number; rxPackets: number; txBytes: number; txPackets: number }[]): string {
  const header =
    "Inter-|   Receive |  Transmit\n face |bytes packets errs drop fifo frame compressed multicast|bytes packets errs drop fifo colls carrier compressed\n";
  return `${header + rows.map((r) => `${r.name}: ${r.rxBytes} ${r.rxPackets} 0 0 0 0 0 0 ${r.txBytes} ${r.txPackets} 0 0 0 0 0 0`).join("\n")}\n`;
}

export function statLine(user: number, system: number, idle: number): string {
  return `cpu  ${user} 0 ${system} ${idle} 0 0 0 0 0 0\ncpu0 ${user} 0 ${system} ${idle} 0 0 0 0 0 0\n`;
}
