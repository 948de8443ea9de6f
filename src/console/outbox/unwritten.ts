// When the state disk is full the outbox can still send what it holds, but cannot write the result down.
// Rows the console settled that could not be deleted are forgotten in memory (this process does not send them
// again) and deleted by a later write that succeeds; a restart before that sends them once more: at least
// once, never lost. A retry time that cannot be stored is kept in memory only. One error line per 10 minutes.
import { describeError } from "../../db/errors.ts";
import type { Logger } from "../../log/logger.ts";
import { LogThrottle } from "../../log/throttle.ts";
import type { OutboxStore } from "../../db/outbox-store.ts";

const WARN_EVERY_MS = 10 * 60_000;

export class UnwrittenChanges {
  private readonly ids = new Set<number>();
  private readonly throttle: LogThrottle;

  constructor(
    private readonly store: OutboxStore,
    private readonly log: Logger,
    now: () => number,
  ) {
    this.throttle = new LogThrottle(WARN_EVERY_MS, now);
  }

  /** Deletes a settled row, or remembers it when the database cannot be written. */
  delete(id: number): void {
    try {
      this.store.delete(id);
    } catch (err) {
      this.ids.add(id);
      this.warn(err);
    }
  }

  /** Stores a row's retry time when it can; the in-memory schedule retries it either way. */
  reschedule(id: number, attempts: number, nextAttemptAt: number): void {
    try {
      this.store.reschedule(id, attempts, nextAttemptAt);
    } catch (err) {
      this.warn(err);
    }
  }

  /** Deletes the remembered rows; stops at the first failure (the disk is still full). */
  retry(): void {
    for (const id of this.ids) {
      try {
        this.store.delete(id);
      } catch {
        return;
      }
      this.ids.delete(id);
    }
    if (this.ids.size === 0) this.throttle.reset();
  }

  private warn(err: unknown): void {
    const held = this.throttle.pass();
    if (held === undefined) return;
    this.log.error("the outbox cannot write to the state database; it goes on sending and catches up later", {
      error: describeError(err),
      ...(held > 0 ? { repeated: held } : {}),
    });
  }
}
