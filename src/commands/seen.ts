// Command ids seen in the last hour, so a command the console delivers twice runs once. With a state database
// they live only there (a primary-key lookup per command), so a restart in between does not run a command
// again and a busy hour costs the agent no memory; without one (tests, --once) they are kept in memory.
import type { Database } from "bun:sqlite";
import type { SeenCommands } from "./dispatcher.ts";

export const DEDUP_WINDOW_MS = 60 * 60 * 1000;

export class SeenCommandIds implements SeenCommands {
  private readonly memory = new Map<string, number>();
  private lastPrune = 0;

  constructor(
    private readonly sqlite?: Database,
    private readonly windowMs = DEDUP_WINDOW_MS,
  ) {}

  firstSighting(id: string, now: number): boolean {
    this.prune(now);
    const seenAt = this.sqlite ? this.fromDisk(id) : this.memory.get(id);
    if (seenAt !== undefined && now - seenAt < this.windowMs) return false;
    if (!this.sqlite) this.memory.set(id, now);
    this.sqlite?.run("INSERT OR REPLACE INTO seen_commands (id, seen_at) VALUES (?, ?)", [id, now]);
    return true;
  }

  private fromDisk(id: string): number | undefined {
    const row = this.sqlite?.query("SELECT seen_at FROM seen_commands WHERE id = ?").get(id) as { seen_at: number } | null | undefined;
    return row?.seen_at;
  }

  private prune(now: number): void {
    if (now - this.lastPrune < 60_000) return;
    this.lastPrune = now;
    for (const [id, at] of this.memory) if (now - at >= this.windowMs) this.memory.delete(id);
    this.sqlite?.run("DELETE FROM seen_commands WHERE seen_at <= ?", [now - this.windowMs]);
  }
}
