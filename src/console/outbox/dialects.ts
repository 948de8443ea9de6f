// Which console dialects the outbox has learned to send in their older (2024) form. A row's primary form that
// the console refuses with one of its fallback statuses switches that dialect for good: remembered in the
// state DB's kv table, so a restart does not probe again. Request bodies are never logged.
import type { Logger } from "../../log/logger.ts";
import type { OutboxStore, StoredFallback } from "../../db/outbox-store.ts";

const DIALECT_KEY = "dialect:";
const FALLBACK = "fallback";

export type DialectState = "primary" | "fallback" | "unknown";

export class Dialects {
  private readonly known: Map<string, string>;

  constructor(
    private readonly store: OutboxStore,
    private readonly log: Logger,
  ) {
    this.known = store.readKv(DIALECT_KEY);
  }

  /** Accepted primary forms are known for this process only: a console may be downgraded across restarts. */
  private readonly accepted = new Set<string>();

  state(dialect: string): DialectState {
    if (this.usesFallback(dialect)) return "fallback";
    return this.accepted.has(dialect) ? "primary" : "unknown";
  }

  primaryAccepted(dialect: string): void {
    this.accepted.add(dialect);
  }

  usesFallback(dialect: string): boolean {
    return this.known.get(dialect) === FALLBACK;
  }

  /** The console refused `row`'s primary form with `status`: use the fallback form from now on. */
  switchToFallback(fallback: StoredFallback, row: { method: string; path: string }, status: number): void {
    if (this.usesFallback(fallback.dialect)) return;
    this.known.set(fallback.dialect, FALLBACK);
    this.log.info(`console refused this form (${status}); using the older form from now on`, {
      dialect: fallback.dialect,
      method: row.method,
      path: row.path,
      fallback_method: fallback.method,
    });
    try {
      this.store.writeKv(DIALECT_KEY + fallback.dialect, FALLBACK);
    } catch (err) {
      this.log.warn("could not remember the console dialect; it is probed again after a restart", {
        dialect: fallback.dialect,
        error: err instanceof Error ? err.message : String(err),
      });
    }
  }
}
