// What every check is built from: the state DB, the clock, the outbox hand-off, the probe roots, and a
// warn-once helper so a missing /proc file or a bad mount is reported once per streak, not every cycle.
// Never holds module-level state: each Collector builds one context and passes it to its checks.
import type { StateDb } from "../../../db/open.ts";
import type { Logger } from "../../../log/logger.ts";
import type { Clock } from "../../../platform/clock.ts";
import type { StatfsNumbers } from "../probes/mountinfo.ts";
import type { OutboxItem } from "../../../console/outbox/outbox.ts";

/** Metric posts, status heartbeats and alert checks share the reference's priority 80 (spec/metrics.md §3.2). */
export const PRIORITY_METRICS = 80;

export interface CheckContext {
  state: StateDb;
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

/** POSTs a metric body through the outbox. */
export function postMetric(ctx: CheckContext, path: string, body: unknown): number {
  return ctx.enqueue({ method: "POST", path, body, priority: PRIORITY_METRICS });
}

export const iso = (ms: number) => new Date(ms).toISOString();

/** Reports a failing source at warn level once, repeats at debug level, and notes (info) when it works again. */
export class Problems {
  private readonly active = new Set<string>();

  constructor(private readonly log: Logger) {}

  report(key: string, message: string, error: unknown): void {
    const fields = { source: key, error: error instanceof Error ? error.message : String(error) };
    if (this.active.has(key)) return this.log.debug(message, fields);
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
