// The `hourly-<family>` checks: roll complete UTC hours up and send every hour not sent yet, one POST per
// hour, with a "sent up to" mark per family in the kv table. A re-run never inserts or sends a second roll-up
// for the same hour; a crash between the enqueue and the mark can repeat one send (at least once), never lose one.
import { HOUR_MS, type Family, type Row } from "../../../db/rollup.ts";
import { iso, postMetric, type CheckContext, type CheckDefinition, type CheckRun } from "./context.ts";

export const WIRE_NAME: Record<Family, string> = {
  cpu: "cpu",
  memory: "memory",
  "disk-usage": "disk-usage",
  "disk-io": "disk-io",
  traffic: "traffic",
};

export const hourlyPath = (family: Family) => `/api/metrics/hourly/${WIRE_NAME[family]}/`;

export const markKey = (kind: "hourly" | "daily", family: Family) => `metrics:sent:${kind}-${family}`;

/** Body rows: the wire timestamp is the end of the period (the reference sent "now", just after it). */
function toBody(rows: Row[], periodEnd: number): Row[] {
  return rows.map(({ timestamp: _start, ...rest }) => ({ timestamp: iso(periodEnd), ...rest }));
}

export function hourlyCheck(ctx: CheckContext, family: Family): CheckRun {
  return () => {
    const now = ctx.clock.now();
    ctx.metrics.rollupHours(family, now);
    const key = markKey("hourly", family);
    const rows = ctx.metrics.hourlyRowsAfter(family, ctx.metrics.readMark(key), now);
    const byHour = new Map<number, Row[]>();
    for (const row of rows) {
      const hour = row.timestamp as number;
      byHour.set(hour, [...(byHour.get(hour) ?? []), row]);
    }
    for (const [hour, group] of byHour) {
      postMetric(ctx, hourlyPath(family), toBody(group, hour + HOUR_MS));
      ctx.metrics.writeMark(key, hour);
    }
  };
}

/** The registration of `hourly-<family>`: runs at start (catching up) and just after each hour ends. */
export const hourly = (family: Family): CheckDefinition => ({ build: (ctx) => hourlyCheck(ctx, family), first: "now", aligned: true });
