// The `cpu` check: busy % since this check's previous run from /proc/stat, stored and sent.
// Never emits a value without a baseline: the first run only reads the ticks.
import { cpuUsage, readStat, type CpuTicks } from "../../../platform/proc/stat.ts";
import { iso, postRealtime, type CheckContext, type CheckDefinition, type CheckRun } from "./context.ts";

export const CPU_PATH = "/api/metrics/realtime/cpu/";

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
    ctx.metrics.record(timestamp, { cpu: usage });
    postRealtime(ctx, CPU_PATH, [{ timestamp: iso(timestamp), usage }]);
  };
}

// Runs at once to take its baseline; the first value comes one interval later.
export const cpu: CheckDefinition = { first: "now", build: (ctx) => cpuCheck(ctx) };
