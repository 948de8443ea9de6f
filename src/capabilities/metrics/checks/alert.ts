// The `alert` check: asks the console to evaluate its alert rules, through the outbox. Never queues a second
// trigger while the previous is still undelivered: the oldest alert window covers the rest.
import { PRIORITY_METRICS, iso, type CheckContext, type CheckDefinition, type CheckRun } from "./context.ts";

export const ALERT_PATH = "/api/metrics/alert-rules/check/";

export function alertCheck(ctx: CheckContext, intervalMs: number): CheckRun {
  let queued: number | undefined;
  return () => {
    if (queued && ctx.metrics.queued(queued)) return;
    queued = ctx.enqueue({
      method: "POST",
      path: ALERT_PATH,
      priority: PRIORITY_METRICS,
      body: {
        timestamp: iso(ctx.clock.now() - intervalMs),
        reporter: "alpamon",
        record: "alert",
        description: "Alert: detected anomaly",
      },
    });
  };
}

export const alert: CheckDefinition = { first: "interval", build: (ctx, ms) => alertCheck(ctx, ms) };
