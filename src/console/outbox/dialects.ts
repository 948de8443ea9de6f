// Which console dialects the outbox has learned to send in their older (2024) form. A row's primary form that
// the console refuses with one of its fallback statuses switches that dialect: remembered in the state DB per
// console URL (db/console-memory.ts), so a restart does not probe again, and trusted for a day; then one row
// goes in the primary form again (a console may have been upgraded) while the others keep the older form.
// Learning is logged once at info; a daily re-probe that finds the same is logged at debug. Request bodies are
// never logged.
import type { Logger } from "../../log/logger.ts";
import type { StoredFallback } from "../../db/outbox-store.ts";
import type { ConsoleMemory } from "../../db/console-memory.ts";

export type DialectState = "primary" | "fallback" | "unknown";

/** How a row of a dialect goes this time: the older form, the primary one, or the primary one as the day's probe. */
export type DialectChoice = "fallback" | "primary" | "probe";

export class Dialects {
  /** Accepted primary forms are known for this process only: a console may be downgraded across restarts. */
  private readonly accepted = new Set<string>();
  /** Dialects whose daily probe row is on its way; the other rows keep the older form meanwhile. */
  private readonly probing = new Set<string>();

  constructor(
    private readonly memory: ConsoleMemory,
    private readonly log: Logger,
    private readonly now: () => number,
  ) {}

  state(dialect: string): DialectState {
    if (this.memory.lacks(dialect, this.now()) || this.probing.has(dialect)) return "fallback";
    return this.accepted.has(dialect) ? "primary" : "unknown";
  }

  /** Picks the form of the next row of `dialect`; "probe" must be answered by switchToFallback, primaryAccepted or probeEnded. */
  choose(dialect: string): DialectChoice {
    if (this.memory.lacks(dialect, this.now())) return "fallback";
    if (this.memory.since(dialect) === undefined) return "primary";
    if (this.probing.has(dialect)) return "fallback";
    this.probing.add(dialect);
    return "probe";
  }

  primaryAccepted(dialect: string): void {
    this.probing.delete(dialect);
    this.accepted.add(dialect);
    if (this.memory.forget(dialect)) this.log.info("the console accepts the newer form again; using it from now on", { dialect });
  }

  /** A probe got an answer that says nothing about the dialect (a 5xx, no answer): the next row probes. */
  probeEnded(dialect: string): void {
    this.probing.delete(dialect);
  }

  usesFallback(dialect: string): boolean {
    return this.state(dialect) === "fallback";
  }

  /** The console refused `row`'s primary form with `status`: use the fallback form from now on. */
  switchToFallback(fallback: StoredFallback, row: { method: string; path: string }, status: number): void {
    const dialect = fallback.dialect;
    this.probing.delete(dialect);
    this.accepted.delete(dialect);
    let news: boolean;
    try {
      news = this.memory.remember(dialect, this.now());
    } catch (err) {
      this.log.warn("could not remember the console dialect; it is probed again after a restart", {
        dialect,
        error: err instanceof Error ? err.message : String(err),
      });
      return;
    }
    const fields = { dialect, method: row.method, path: row.path, fallback_method: fallback.method };
    if (news) this.log.info(`console refused this form (${status}); using the older form from now on`, fields);
    else this.log.debug(`console still refuses this form (${status}); asking again in a day`, fields);
  }
}
