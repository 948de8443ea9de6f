// The one typed table of metric check types: the console's type name → its definition (one file per type in
// this folder). Adding a check = its file + one line here (+ its migration); CHECK_TYPES and the config parser
// follow from this table. Never starts anything: the Collector hands the tasks to the Scheduler.
import type { ScheduledTask } from "../scheduler.ts";
import { alert } from "./alert.ts";
import { cleanup } from "./cleanup.ts";
import type { CheckContext, CheckDefinition, Retention } from "./context.ts";
import { cpu } from "./cpu.ts";
import { daily } from "./daily.ts";
import { diskIoCollectorCheck } from "./disk-io-collector.ts";
import { diskIo } from "./disk-io.ts";
import { diskUsage } from "./disk-usage.ts";
import { hourly } from "./hourly.ts";
import { memory } from "./memory.ts";
import { netCollectorCheck } from "./net-collector.ts";
import { net } from "./net.ts";
import { status } from "./status.ts";

/** Roll-ups run this long after the hour (or day) ends, so the period's last sample is in. */
export const ROLLUP_DELAY_MS = 5_000;

// Order is spec/metrics.md §1.2's.
export const CHECKS = {
  cpu,
  memory,
  "disk-usage": diskUsage,
  "disk-io-collector": diskIoCollectorCheck,
  "disk-io": diskIo,
  "net-collector": netCollectorCheck,
  net,
  status,
  alert,
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
  cleanup,
} as const satisfies Record<string, CheckDefinition>;

/** Every check type the console may ask for (spec/metrics.md §1.2). */
export type CheckType = keyof typeof CHECKS;
export const CHECK_TYPES = Object.keys(CHECKS) as readonly CheckType[];

/** One scheduled task per config entry, named `<type>#<n>` (duplicates of a type run independently). */
export function buildTasks(
  entries: readonly { type: CheckType; interval: number }[],
  ctx: CheckContext,
  retention: Retention,
): ScheduledTask[] {
  const counts = new Map<string, number>();
  return entries.map((entry) => {
    const n = (counts.get(entry.type) ?? 0) + 1;
    counts.set(entry.type, n);
    const check: CheckDefinition = CHECKS[entry.type];
    const intervalMs = entry.interval * 1000;
    return {
      name: `${entry.type}#${n}`,
      intervalMs,
      first: check.first,
      ...(check.aligned ? { wallOffsetMs: ROLLUP_DELAY_MS } : {}),
      run: check.build(ctx, intervalMs, retention),
    };
  });
}
