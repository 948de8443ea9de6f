// The hourly and daily checks and the clean-up: roll complete UTC hours up, send each period once (a
// "sent up to" mark per check type in the kv table), and prune by retention, then checkpoint the WAL.
// A re-run never inserts or sends a second roll-up for the same period; a crash between the enqueue and
// the mark can repeat one send (at least once), never lose one.
import { DAY_MS, FAMILIES, FAMILY_SQL, HOUR_MS, dailyRows, hourlyRowsAfter, pendingDays, rollupHours, type Family, type Row } from "../rollup.ts";
import { iso, postMetric, type CheckContext, type CheckRun } from "./context.ts";

const WIRE_NAME: Record<Family, string> = {
  cpu: "cpu",
  memory: "memory",
  "disk-usage": "disk-usage",
  "disk-io": "disk-io",
  traffic: "traffic",
};

export const hourlyPath = (family: Family) => `/api/metrics/hourly/${WIRE_NAME[family]}/`;
export const dailyPath = (family: Family) => `/api/metrics/daily/${WIRE_NAME[family]}/`;

const markKey = (kind: "hourly" | "daily", family: Family) => `metrics:sent:${kind}-${family}`;

function readMark(ctx: CheckContext, key: string): number {
  const row = ctx.state.sqlite.query("SELECT value FROM kv WHERE key = ?1").get(key) as { value: string } | null;
  const value = row ? Number(row.value) : Number.NaN;
  return Number.isSafeInteger(value) ? value : -1;
}

function writeMark(ctx: CheckContext, key: string, value: number): void {
  ctx.state.sqlite
    .query("INSERT INTO kv (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
    .run(key, String(value));
}

/** Body rows: the wire timestamp is the end of the period (the reference sent "now", just after it). */
function toBody(rows: Row[], periodEnd: number): Row[] {
  return rows.map(({ timestamp: _start, ...rest }) => ({ timestamp: iso(periodEnd), ...rest }));
}

/** Rolls complete hours up and sends every hour not sent yet, one POST per hour. */
export function hourlyCheck(ctx: CheckContext, family: Family): CheckRun {
  return () => {
    const now = ctx.clock.now();
    rollupHours(ctx.state.sqlite, family, now);
    const key = markKey("hourly", family);
    const rows = hourlyRowsAfter(ctx.state.sqlite, family, readMark(ctx, key), now);
    const byHour = new Map<number, Row[]>();
    for (const row of rows) {
      const hour = row.timestamp as number;
      byHour.set(hour, [...(byHour.get(hour) ?? []), row]);
    }
    for (const [hour, group] of byHour) {
      postMetric(ctx, hourlyPath(family), toBody(group, hour + HOUR_MS));
      writeMark(ctx, key, hour);
    }
  };
}

/** Summarises and sends every complete UTC day not sent yet (rolling its last hours up first). */
export function dailyCheck(ctx: CheckContext, family: Family): CheckRun {
  return () => {
    const now = ctx.clock.now();
    // The hourly check may not have run since midnight; the day must include its last hour.
    rollupHours(ctx.state.sqlite, family, now);
    const key = markKey("daily", family);
    for (const day of pendingDays(ctx.state.sqlite, family, readMark(ctx, key), now)) {
      const rows = dailyRows(ctx.state.sqlite, family, day);
      if (rows.length > 0) postMetric(ctx, dailyPath(family), rows.map((r) => ({ timestamp: iso(day + DAY_MS), ...r })));
      writeMark(ctx, key, day);
    }
  };
}

export interface Retention {
  /** How long raw samples are kept. */
  rawMs: number;
  /** How long hourly roll-ups are kept. */
  hourlyMs: number;
}

/** The reference's fixed windows (1 h raw, 24 h hourly) are the floor. */
export const MIN_RETENTION: Retention = { rawMs: HOUR_MS, hourlyMs: DAY_MS };
/** One period more than the floor, so a roll-up that runs late still finds its whole period. */
export const DEFAULT_RETENTION: Retention = { rawMs: 2 * HOUR_MS, hourlyMs: 2 * DAY_MS };

export function effectiveRetention(wanted: Partial<Retention> = {}): Retention {
  const pick = (value: number | undefined, fallback: number, floor: number) =>
    value !== undefined && Number.isFinite(value) ? Math.max(floor, value) : fallback;
  return {
    rawMs: pick(wanted.rawMs, DEFAULT_RETENTION.rawMs, MIN_RETENTION.rawMs),
    hourlyMs: pick(wanted.hourlyMs, DEFAULT_RETENTION.hourlyMs, MIN_RETENTION.hourlyMs),
  };
}

/**
 * Rolls complete hours up (so pruning never loses an hour that was not summarised yet), deletes rows older
 * than the retention in one transaction, then checkpoints the WAL. Returns the number of rows deleted.
 */
export function pruneMetrics(ctx: CheckContext, retention: Retention): number {
  const now = ctx.clock.now();
  const { sqlite } = ctx.state;
  let deleted = 0;
  sqlite.transaction(() => {
    for (const family of FAMILIES) {
      const { raw, hourly } = FAMILY_SQL[family];
      rollupHours(sqlite, family, now);
      deleted += sqlite.query(`DELETE FROM ${raw} WHERE "timestamp" < ?1`).run(now - retention.rawMs).changes;
      deleted += sqlite.query(`DELETE FROM ${hourly} WHERE "timestamp" < ?1`).run(now - retention.hourlyMs).changes;
    }
  }).immediate();
  const checkpoint = ctx.state.checkpoint();
  if (checkpoint.busy) ctx.log.debug("WAL checkpoint after the metric clean-up could not finish; the next one will", {});
  return deleted;
}

export function cleanupCheck(ctx: CheckContext, retention: Retention): CheckRun {
  return () => {
    const deleted = pruneMetrics(ctx, retention);
    if (deleted > 0) ctx.log.debug("pruned old metric rows", { deleted });
  };
}
