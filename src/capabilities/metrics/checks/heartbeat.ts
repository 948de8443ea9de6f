// The `status` heartbeat (PATCH with no body) and the `alert` trigger (asks the console to evaluate its
// rules), both through the outbox. Never queues a second one while the previous is still undelivered: after
// an outage one late heartbeat says as much as a backlog of them, and the oldest alert window covers the rest.
import { PRIORITY_METRICS, iso, type CheckContext, type CheckRun } from "./context.ts";

export const STATUS_PATH = "/api/servers/servers/-/status/";
export const ALERT_PATH = "/api/metrics/alert-rules/check/";

/** True while the outbox still holds row `id` (not yet delivered or dropped). */
function stillQueued(ctx: CheckContext, id: number | undefined): boolean {
  if (!id) return false;
  return ctx.state.sqlite.query("SELECT 1 AS queued FROM outbox WHERE id = ?1").get(id) !== null;
}

export function statusCheck(ctx: CheckContext): CheckRun {
  let queued: number | undefined;
  return () => {
    if (stillQueued(ctx, queued)) return;
    queued = ctx.enqueue({ method: "PATCH", path: STATUS_PATH, priority: PRIORITY_METRICS });
  };
}

export function alertCheck(ctx: CheckContext, intervalMs: number): CheckRun {
  let queued: number | undefined;
  return () => {
    if (stillQueued(ctx, queued)) return;
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
