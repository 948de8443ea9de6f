// The `memory` check: memory used % (MemTotal − MemAvailable, as `alpamon --once` reports it), stored and sent.
import { memoryUsage, readMeminfo } from "../../../platform/proc/meminfo.ts";
import { iso, postRealtime, type CheckContext, type CheckDefinition, type CheckRun } from "./context.ts";

export const MEMORY_PATH = "/api/metrics/realtime/memory/";

export function memoryCheck(ctx: CheckContext): CheckRun {
  return () => {
    const source = `${ctx.procRoot}/meminfo`;
    const info = ctx.problems.attempt(source, "cannot read memory figures; skipping the memory sample", () => readMeminfo(ctx.procRoot));
    if (!info) return;
    const { usage } = memoryUsage(info);
    const timestamp = ctx.clock.now();
    ctx.metrics.record(timestamp, { memory: usage });
    postRealtime(ctx, MEMORY_PATH, [{ timestamp: iso(timestamp), usage }]);
  };
}

export const memory: CheckDefinition = { first: "now", build: (ctx) => memoryCheck(ctx) };
