// The `cleanup` check (and the collector's own retention run): roll complete hours up, prune rows older than
// the retention in one transaction, then checkpoint the WAL. Never prunes below the reference's windows.
import { DAY_MS, HOUR_MS } from "../../../db/rollup.ts";
import type { CheckContext, CheckDefinition, CheckRun, Retention } from "./context.ts";

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
  const deleted = ctx.metrics.prune(now, now - retention.rawMs, now - retention.hourlyMs);
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

export const cleanup: CheckDefinition = { first: "now", build: (ctx, _ms, retention) => cleanupCheck(ctx, retention) };
