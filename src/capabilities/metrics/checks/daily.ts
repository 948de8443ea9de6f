// The `daily-<family>` checks: summarise and send every complete UTC day not sent yet (rolling its last hours
// up first), with a "sent up to" mark per family in the kv table; at least once, never twice on a re-run.
import { DAY_MS, type Family } from "../../../db/rollup.ts";
import { iso, postMetric, type CheckContext, type CheckDefinition, type CheckRun } from "./context.ts";
import { WIRE_NAME, markKey } from "./hourly.ts";

export const dailyPath = (family: Family) => `/api/metrics/daily/${WIRE_NAME[family]}/`;

export function dailyCheck(ctx: CheckContext, family: Family): CheckRun {
  return () => {
    const now = ctx.clock.now();
    // The hourly check may not have run since midnight; the day must include its last hour.
    ctx.metrics.rollupHours(family, now);
    const key = markKey("daily", family);
    for (const day of ctx.metrics.pendingDays(family, ctx.metrics.readMark(key), now)) {
      const rows = ctx.metrics.dailyRows(family, day);
      if (rows.length > 0)
        postMetric(
          ctx,
          dailyPath(family),
          rows.map((r) => ({ timestamp: iso(day + DAY_MS), ...r })),
        );
      ctx.metrics.writeMark(key, day);
    }
  };
}

/** The registration of `daily-<family>`: runs at start (catching up) and just after each day ends. */
export const daily = (family: Family): CheckDefinition => ({ build: (ctx) => dailyCheck(ctx, family), first: "now", aligned: true });
