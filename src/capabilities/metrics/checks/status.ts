// The `status` check: the heartbeat (PATCH with no body) through the outbox. Never queues a second one while
// the previous is still undelivered: after an outage one late heartbeat says as much as a backlog of them.
import { PRIORITY_METRICS, type CheckContext, type CheckDefinition, type CheckRun } from "./context.ts";

export const STATUS_PATH = "/api/servers/servers/-/status/";

export function statusCheck(ctx: CheckContext): CheckRun {
  let queued: number | undefined;
  return () => {
    if (queued && ctx.metrics.queued(queued)) return;
    queued = ctx.enqueue({ method: "PATCH", path: STATUS_PATH, priority: PRIORITY_METRICS });
  };
}

export const status: CheckDefinition = { first: "now", build: (ctx) => statusCheck(ctx) };
