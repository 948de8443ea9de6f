// The state DB's memory of what was last synced per key (migrations/0003_inventory.sql): a sha256 of the
// key's data and when. Lets a steady-state sync skip unchanged keys. Never stores the data itself.
import type { Database } from "bun:sqlite";
import { eq, sql } from "drizzle-orm";
import { stateDrizzle } from "../../db/open.ts";
import { lazy } from "../../db/prepared.ts";
import { inventorySync, outbox } from "../../db/schema.ts";

export interface SyncRecord {
  hash: string;
  syncedAt: number;
}

export function hashOf(value: unknown): string {
  return new Bun.CryptoHasher("sha256").update(JSON.stringify(value) ?? "null").digest("hex");
}

const p = sql.placeholder;

export class SyncState {
  private readonly db;
  private readonly select;
  private readonly upsert;
  private readonly remove;
  private readonly queued;

  constructor(sqlite: Database) {
    const db = stateDrizzle(sqlite);
    this.db = db;
    this.select = lazy(() =>
      db
        .select({ hash: inventorySync.hash, syncedAt: inventorySync.syncedAt })
        .from(inventorySync)
        .where(eq(inventorySync.key, p("key")))
        .prepare(),
    );
    this.upsert = lazy(() =>
      db
        .insert(inventorySync)
        .values({ key: p("key"), hash: p("hash"), syncedAt: p("syncedAt") })
        .onConflictDoUpdate({ target: inventorySync.key, set: { hash: sql`excluded.hash`, syncedAt: sql`excluded.synced_at` } })
        .prepare(),
    );
    this.remove = lazy(() =>
      db
        .delete(inventorySync)
        .where(eq(inventorySync.key, p("key")))
        .prepare(),
    );
    // One statement for any number of ids: the list travels as one JSON parameter.
    this.queued = lazy(() =>
      db
        .select({ id: outbox.id })
        .from(outbox)
        .where(sql`${outbox.id} IN (SELECT value FROM json_each(${p("ids")}))`)
        .prepare(),
    );
  }

  get(key: string): SyncRecord | undefined {
    return this.select().get({ key });
  }

  set(key: string, hash: string, syncedAt: number): void {
    this.immediate(() => this.upsert().run({ key, hash, syncedAt }));
  }

  forget(keys: readonly string[]): void {
    if (keys.length === 0) return;
    this.immediate(() => {
      for (const key of keys) this.remove().run({ key });
    });
  }

  /**
   * Which of these outbox row ids are still waiting to be delivered. Reads the outbox table of the same
   * database (read only): a key with undelivered writes must not be diffed against the console's older rows.
   */
  undelivered(ids: readonly number[]): number[] {
    if (ids.length === 0) return [];
    return this.queued()
      .all({ ids: JSON.stringify(ids) })
      .map((r) => r.id);
  }

  forgetAll(): void {
    this.immediate(() => this.db.delete(inventorySync).run());
  }

  private immediate(work: () => void): void {
    this.db.transaction(() => work(), { behavior: "immediate" });
  }
}
