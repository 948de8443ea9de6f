// The state DB's memory of what was last synced per key (migrations/0003_inventory.sql): a sha256 of the
// key's data and when. Lets a steady-state sync skip unchanged keys. Never stores the data itself.
import type { Database } from "bun:sqlite";

export interface SyncRecord {
  hash: string;
  syncedAt: number;
}

export function hashOf(value: unknown): string {
  return new Bun.CryptoHasher("sha256").update(JSON.stringify(value) ?? "null").digest("hex");
}

export class SyncState {
  constructor(private readonly sqlite: Database) {}

  get(key: string): SyncRecord | undefined {
    const row = this.sqlite.query("SELECT hash, synced_at AS syncedAt FROM inventory_sync WHERE key = ?1").get(key) as SyncRecord | null;
    return row ?? undefined;
  }

  set(key: string, hash: string, syncedAt: number): void {
    this.sqlite.transaction(() => {
      this.sqlite
        .query("INSERT INTO inventory_sync (key, hash, synced_at) VALUES (?1, ?2, ?3) ON CONFLICT (key) DO UPDATE SET hash = excluded.hash, synced_at = excluded.synced_at")
        .run(key, hash, syncedAt);
    }).immediate();
  }

  forget(keys: readonly string[]): void {
    if (keys.length === 0) return;
    this.sqlite.transaction(() => {
      for (const key of keys) this.sqlite.query("DELETE FROM inventory_sync WHERE key = ?1").run(key);
    }).immediate();
  }

  /**
   * Which of these outbox row ids are still waiting to be delivered. Reads the outbox table of the same
   * database (read only): a key with undelivered writes must not be diffed against the console's older rows.
   */
  undelivered(ids: readonly number[]): number[] {
    if (ids.length === 0) return [];
    const rows = this.sqlite.query("SELECT id FROM outbox WHERE id IN (SELECT value FROM json_each(?1))").all(JSON.stringify(ids)) as { id: number }[];
    return rows.map((r) => r.id);
  }

  forgetAll(): void {
    this.sqlite.transaction(() => this.sqlite.run("DELETE FROM inventory_sync")).immediate();
  }
}
