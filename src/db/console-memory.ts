// What this agent learned a console lacks ("no sync-check", "no /api/proc/users/sync/", "wants the PATCH
// ack"), per console URL, in the kv table: `lacks:<console url> <name>` = {"since": epoch ms}. A decision is
// trusted for a day and then probed again once (the console may have been upgraded); a registration that moves
// to another console starts with nothing learned. Storage only: the callers decide and log.
import type { Database } from "bun:sqlite";
import { sql } from "drizzle-orm";
import { stateDrizzle } from "./open.ts";
import { lazy } from "./prepared.ts";
import { kv } from "./schema.ts";

/** How long a learned "the console lacks this" holds before the next request probes again. */
export const RECHECK_MS = 24 * 60 * 60_000;

const PREFIX = "lacks:";
/** The form before the memory was per console (outbox dialects): adopted once, for the current console. */
const LEGACY_PREFIX = "dialect:";

const p = sql.placeholder;

export class ConsoleMemory {
  private readonly db;
  private readonly known = new Map<string, number>();
  private readonly upsert;
  private readonly remove;

  constructor(
    sqlite: Database,
    /** The console URL this memory is about (`[server] url`). */
    private readonly consoleUrl: string,
    now: number,
  ) {
    const db = stateDrizzle(sqlite);
    this.db = db;
    this.upsert = lazy(() =>
      db
        .insert(kv)
        .values({ key: p("key"), value: p("value") })
        .onConflictDoUpdate({ target: kv.key, set: { value: sql`excluded.value` } })
        .prepare(),
    );
    this.remove = lazy(() =>
      db
        .delete(kv)
        .where(sql`${kv.key} = ${p("key")}`)
        .prepare(),
    );
    const mine = this.prefix();
    for (const row of db.select().from(kv).where(startsWith(mine)).all()) {
      const since = parseSince(row.value);
      if (since !== undefined) this.known.set(row.key.slice(mine.length), since);
    }
    this.adoptLegacy(now);
  }

  /** When the console was found lacking `name`, or undefined when it was not (or that was forgotten). */
  since(name: string): number | undefined {
    return this.known.get(name);
  }

  /** True when `name` is known missing and the day of trust has not passed at `now`. */
  lacks(name: string, now: number): boolean {
    const since = this.known.get(name);
    return since !== undefined && now - since < RECHECK_MS && now >= since;
  }

  /** Records that the console lacks `name` as of `now`. Returns true when this is news (not known before). */
  remember(name: string, now: number): boolean {
    const news = !this.known.has(name);
    this.known.set(name, now);
    this.write(() => this.upsert().run({ key: this.prefix() + name, value: JSON.stringify({ since: now }) }));
    return news;
  }

  /** The console has `name` after all. Returns true when it had been recorded as missing. */
  forget(name: string): boolean {
    if (!this.known.delete(name)) return false;
    this.write(() => this.remove().run({ key: this.prefix() + name }));
    return true;
  }

  /** Every name recorded for this console, for a one-line summary at start. */
  names(): string[] {
    return [...this.known.keys()].sort();
  }

  private prefix(): string {
    return `${PREFIX}${this.consoleUrl} `;
  }

  /** `dialect:<name>` = "fallback" rows from before: they were learned from this console, so they move here. */
  private adoptLegacy(now: number): void {
    const rows = this.db.select().from(kv).where(startsWith(LEGACY_PREFIX)).all();
    for (const row of rows) {
      const name = row.key.slice(LEGACY_PREFIX.length);
      if (row.value === "fallback" && !this.known.has(name)) this.remember(name, now);
      this.write(() => this.remove().run({ key: row.key }));
    }
  }

  private write(work: () => void): void {
    this.db.transaction(() => work(), { behavior: "immediate" });
  }
}

function parseSince(value: string): number | undefined {
  try {
    const since = (JSON.parse(value) as { since?: unknown } | null)?.since;
    return typeof since === "number" && Number.isFinite(since) ? since : undefined;
  } catch {
    return undefined;
  }
}

/** Not LIKE: a URL may hold `_` and `%`, which LIKE takes for wildcards. */
function startsWith(prefix: string) {
  return sql`substr(${kv.key}, 1, length(${prefix})) = ${prefix}`;
}
