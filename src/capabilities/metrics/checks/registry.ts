// Maps each configured check type to its run function and scheduling (one entry per type, like
// node_exporter's registrations). Never starts anything: the Collector hands the tasks to the Scheduler.
import type { CheckEntry, CheckType } from "../config.ts";
import type { Family } from "../rollup.ts";
import type { ScheduledTask } from "../scheduler.ts";
import { cleanupCheck, dailyCheck, hourlyCheck, type Retention } from "./batch.ts";
import type { CheckContext, CheckRun } from "./context.ts";
import { alertCheck, statusCheck } from "./heartbeat.ts";
import { cpuCheck, diskIoCollector, diskIoSender, diskUsageCheck, memoryCheck, netCollector, netSender } from "./realtime.ts";

/** Roll-ups run this long after the hour (or day) ends, so the period's last sample is in. */
export const ROLLUP_DELAY_MS = 5_000;

interface Registration {
  build(ctx: CheckContext, intervalMs: number, retention: Retention): CheckRun;
  first: ScheduledTask["first"];
  /** Align slots to wall-clock multiples of the interval (roll-ups). */
  aligned?: boolean;
}

const hourly = (family: Family): Registration => ({ build: (ctx) => hourlyCheck(ctx, family), first: "now", aligned: true });
const daily = (family: Family): Registration => ({ build: (ctx) => dailyCheck(ctx, family), first: "now", aligned: true });

const REGISTRY: Record<CheckType, Registration> = {
  // Collectors run at once to take their baseline; the first rate comes one interval later.
  cpu: { build: (ctx) => cpuCheck(ctx), first: "now" },
  memory: { build: (ctx) => memoryCheck(ctx), first: "now" },
  "disk-usage": { build: (ctx) => diskUsageCheck(ctx), first: "now" },
  "disk-io-collector": { build: (ctx) => diskIoCollector(ctx), first: "now" },
  "net-collector": { build: (ctx) => netCollector(ctx), first: "now" },
  // Senders aggregate the interval that ends when they run, so they first run one interval in.
  "disk-io": { build: (ctx, ms) => diskIoSender(ctx, ms), first: "interval" },
  net: { build: (ctx, ms) => netSender(ctx, ms), first: "interval" },
  status: { build: (ctx) => statusCheck(ctx), first: "now" },
  alert: { build: (ctx, ms) => alertCheck(ctx, ms), first: "interval" },
  "hourly-cpu-usage": hourly("cpu"),
  "hourly-memory-usage": hourly("memory"),
  "hourly-disk-usage": hourly("disk-usage"),
  "hourly-disk-io": hourly("disk-io"),
  "hourly-net": hourly("traffic"),
  "daily-cpu-usage": daily("cpu"),
  "daily-memory-usage": daily("memory"),
  "daily-disk-usage": daily("disk-usage"),
  "daily-disk-io": daily("disk-io"),
  "daily-net": daily("traffic"),
  cleanup: { build: (ctx, _ms, retention) => cleanupCheck(ctx, retention), first: "now" },
};

/** One scheduled task per config entry, named `<type>#<n>` (duplicates of a type run independently). */
export function buildTasks(entries: readonly CheckEntry[], ctx: CheckContext, retention: Retention): ScheduledTask[] {
  const counts = new Map<string, number>();
  return entries.map((entry) => {
    const n = (counts.get(entry.type) ?? 0) + 1;
    counts.set(entry.type, n);
    const registration = REGISTRY[entry.type];
    const intervalMs = entry.interval * 1000;
    return {
      name: `${entry.type}#${n}`,
      intervalMs,
      first: registration.first,
      ...(registration.aligned ? { wallOffsetMs: ROLLUP_DELAY_MS } : {}),
      run: registration.build(ctx, intervalMs, retention),
    };
  });
}
