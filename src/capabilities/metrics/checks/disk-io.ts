// The `disk-io` check: peak and average bytes/s per disk over exactly the last interval (what the
// `disk-io-collector` stored), sent; nothing is sent for an empty window.
import { iso, postRealtime, windowTracker, type CheckContext, type CheckDefinition, type CheckRun } from "./context.ts";

export const DISK_IO_PATH = "/api/metrics/realtime/disk-io/";

export function diskIoSender(ctx: CheckContext, intervalMs: number): CheckRun {
  const window = windowTracker(ctx, intervalMs);
  return () => {
    const { start, end } = window();
    const rows = ctx.metrics.diskIoWindow(start, end);
    if (rows.length === 0) return;
    postRealtime(
      ctx,
      DISK_IO_PATH,
      rows.map((r) => ({ timestamp: iso(end), ...r })),
    );
  };
}

// Aggregates the interval that ends when it runs, so it first runs one interval in.
export const diskIo: CheckDefinition = { first: "interval", build: (ctx, ms) => diskIoSender(ctx, ms) };
