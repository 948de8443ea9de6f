// Command ids seen in the last hour, so a command the console delivers twice runs once. With a state database
// they live only there (a primary-key lookup per command), so a restart in between does not run a command
// again and a busy hour costs the agent no memory; without one (tests, --once) they are kept in memory.
import type { Database } from "bun:sqlite";
import { createSeenCommandsStore, type SeenCommandsStore } from "../db/seen-commands.ts";
import type { SeenCommands } from "./dispatcher.ts";

export const DEDUP_WINDOW_MS = 60 * 60 * 1000;

export class SeenCommandIds implements SeenCommands {
  private readonly memory = new Map<string, number>();
  private readonly disk: SeenCommandsStore | undefined;
  private lastPrune = 0;

  constructor(
    sqlite?: Database,
    private readonly windowMs = DEDUP_WINDOW_MS,
  ) {
    this.disk = sqlite && createSeenCommandsStore(sqlite);
  }

  firstSighting(id: string, now: number): boolean {
    this.prune(now);
    const seenAt = this.disk ? this.disk.seenAt(id) : this.memory.get(id);
    if (seenAt !== undefined && now - seenAt < this.windowMs) return false;
    if (this.disk) this.disk.remember(id, now);
    else this.memory.set(id, now);
    return true;
  }

  private prune(now: number): void {
    if (now - this.lastPrune < 60_000) return;
    this.lastPrune = now;
    for (const [id, at] of this.memory) if (now - at >= this.windowMs) this.memory.delete(id);
    this.disk?.forgetUpTo(now - this.windowMs);
  }
}
