// The `net` check: peak and average traffic per interface over exactly the last interval (what the
// `net-collector` stored), sent; nothing is sent for an empty window.
import { iso, postRealtime, windowTracker, type CheckContext, type CheckDefinition, type CheckRun } from "./context.ts";

export const TRAFFIC_PATH = "/api/metrics/realtime/traffic/";

export function netSender(ctx: CheckContext, intervalMs: number): CheckRun {
  const window = windowTracker(ctx, intervalMs);
  return () => {
    const { start, end } = window();
    const rows = ctx.metrics.trafficWindow(start, end);
    if (rows.length === 0) return;
    postRealtime(
      ctx,
      TRAFFIC_PATH,
      rows.map((r) => ({ timestamp: iso(end), ...r })),
    );
  };
}

// Aggregates the interval that ends when it runs, so it first runs one interval in.
export const net: CheckDefinition = { first: "interval", build: (ctx, ms) => netSender(ctx, ms) };
