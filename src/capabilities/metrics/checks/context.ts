// What every check is built from: the state DB (through its MetricsStore), the clock, the outbox hand-off, the
// probe roots, and a warn-once helper so a missing /proc file or a bad mount is reported once per streak, not
// every cycle; and the shape of a check type (CheckDefinition) that registry.ts lists.
// Never holds module-level state: each Collector builds one context and passes it to its checks.
import type { MetricsStore } from "../../../db/metrics.ts";
import type { StateDb } from "../../../db/open.ts";
import type { Logger } from "../../../log/logger.ts";
import type { Clock } from "../../../platform/clock.ts";
import type { StatfsNumbers } from "../../../platform/proc/mountinfo.ts";
import type { OutboxItem } from "../../../console/outbox/outbox.ts";
import type { ScheduledTask } from "../scheduler.ts";

/** Metric posts, status heartbeats and alert checks share the reference's priority 80 (spec/metrics.md §3.2). */
export const PRIORITY_METRICS = 80;

export interface CheckContext {
  state: StateDb;
  /** The state database as the checks use it (createMetricsStore(state)). */
  metrics: MetricsStore;
  clock: Clock;
  log: Logger;
  /** Outbox.enqueue: the row is durable when it returns; returns the row id (0 when refused). */
  enqueue(item: OutboxItem): number;
  procRoot: string;
  sysRoot: string;
  /** statfs of a mount point; undefined means node:fs's asynchronous statfs (off the event loop). */
  statfs: AnyStatfs | undefined;
  /** A statfs that has not answered by then counts as failed (a hung NFS-backed or dying device). */
  statfsTimeoutMs: number;
  problems: Problems;
}

export type AnyStatfs = (mountPoint: string) => StatfsNumbers | Promise<StatfsNumbers>;

export const DEFAULT_STATFS_TIMEOUT_MS = 5_000;

/** A check's work for one slot; throwing makes the scheduler retry it. */
export type CheckRun = (signal: AbortSignal) => void | Promise<void>;

export interface Retention {
  /** How long raw samples are kept. */
  rawMs: number;
  /** How long hourly roll-ups are kept. */
  hourlyMs: number;
}

/** One check type: how to build its run and when it first runs. One per file in this folder, listed in registry.ts. */
export interface CheckDefinition {
  /** "now": at start (collectors take their baseline, roll-ups catch up); "interval": one interval in. */
  first: ScheduledTask["first"];
  /** Align slots to wall-clock multiples of the interval, just after the period ends (roll-ups). */
  aligned?: boolean;
  build(ctx: CheckContext, intervalMs: number, retention: Retention): CheckRun;
}

/** Counters read at one moment, for the next run's rates. */
export interface Snapshot<T> {
  counters: T[];
  /** Monotonic ms when the counters were read. */
  at: number;
}

/**
 * The window a sender aggregates: (start, end] with end = now and start = now − interval, but never before
 * the previous send's end, so consecutive sends neither overlap nor double-count a sample.
 */
export function windowTracker(ctx: CheckContext, intervalMs: number): () => { start: number; end: number } {
  let lastEnd: number | undefined;
  return () => {
    const end = ctx.clock.now();
    const start = Math.max(end - intervalMs, lastEnd !== undefined && lastEnd <= end ? lastEnd : -Infinity);
    lastEnd = end;
    return { start, end };
  };
}

/** POSTs a metric body through the outbox. */
export function postMetric(ctx: CheckContext, path: string, body: unknown): number {
  return ctx.enqueue({ method: "POST", path, body, priority: PRIORITY_METRICS });
}

/**
 * A realtime sample (`/api/metrics/realtime/…`): sent before it is written to the outbox, and written only if
 * that attempt is to be retried (OutboxItem.sendFirst). A crash in between loses one sample, which the
 * metrics tables keep anyway; every 5-second sample is spared the outbox row's three SQLite statements. The
 * hourly and daily roll-ups stay durable: their "sent up to" marks count on the row being written.
 */
export function postRealtime(ctx: CheckContext, path: string, body: unknown): void {
  ctx.enqueue({ method: "POST", path, body, priority: PRIORITY_METRICS, sendFirst: true });
}

export const iso = (ms: number) => new Date(ms).toISOString();

/** Reports a failing source at warn level once, repeats at debug level, and notes (info) when it works again. */
export class Problems {
  private readonly active = new Set<string>();

  constructor(private readonly log: Logger) {}

  report(key: string, message: string, error: unknown): void {
    const fields = { source: key, error: error instanceof Error ? error.message : String(error) };
    if (this.active.has(key)) {
      this.log.debug(message, fields);
      return;
    }
    this.active.add(key);
    this.log.warn(message, fields);
  }

  clear(key: string): void {
    if (this.active.delete(key)) this.log.info("metric source readable again", { source: key });
  }

  /** Runs `read`; on failure reports it under `key` and returns undefined. */
  attempt<T>(key: string, message: string, read: () => T): T | undefined {
    try {
      const value = read();
      this.clear(key);
      return value;
    } catch (err) {
      this.report(key, message, err);
      return undefined;
    }
  }
}
