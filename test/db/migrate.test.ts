// Tests for the migration runner: what 0000 creates, idempotence, bookkeeping, hash and version checks,
// rollback. Never share a database between tests (each gets a fresh temp dir via useTempDir).
import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { StateDbError } from "../../src/db/errors.ts";
import { MIGRATIONS, migrate, sha256Hex, type Migration } from "../../src/db/migrate.ts";
import { openStateDb, stateDbPath } from "../../src/db/open.ts";
import { useTempDir } from "./temp-dir.ts";

const tmp = useTempDir();
const clock = { now: () => 1_767_225_600_000 };

const METRIC_TABLES = [
  "cpu_samples",
  "disk_io_samples",
  "disk_usage_samples",
  "hourly_cpu",
  "hourly_disk_io",
  "hourly_disk_usage",
  "hourly_memory",
  "hourly_traffic",
  "memory_samples",
  "traffic_samples",
];

function rawDb(): Database {
  return tmp.track(new Database(join(tmp.path, "raw.db"), { strict: true }));
}

function names(db: Database, type: "table" | "index"): string[] {
  const rows = db.query("SELECT name FROM sqlite_master WHERE type = ?1 AND name NOT LIKE 'sqlite_%' ORDER BY name").all(type) as {
    name: string;
  }[];
  return rows.map((r) => r.name);
}

function indexColumns(db: Database, table: string): string[][] {
  const list = db.query(`PRAGMA index_list(${table})`).all() as { name: string }[];
  return list.map((i) => (db.query(`PRAGMA index_info(${i.name})`).all() as { name: string }[]).map((c) => c.name)).sort();
}

function schemaSnapshot(db: Database): unknown {
  return db.query("SELECT type, name, sql FROM sqlite_master ORDER BY type, name").all();
}

function catchError(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  throw new Error("expected an error, got none");
}

describe("migrate", () => {
  test("0000 creates every metric table, its timestamp index and the bookkeeping table", () => {
    const db = rawDb();
    expect(migrate(db, { clock })).toEqual(MIGRATIONS.map((m) => m.id));
    expect(names(db, "table")).toEqual([...METRIC_TABLES, "inventory_sync", "kv", "outbox", "schema_migrations", "seen_commands"].sort());
    expect(names(db, "index")).toEqual(
      [...METRIC_TABLES.filter((t) => !t.startsWith("hourly_")).map((t) => `${t}_timestamp_idx`), "outbox_priority_id_idx"].sort(),
    );
    for (const t of METRIC_TABLES.filter((t) => !t.startsWith("hourly_"))) {
      expect(indexColumns(db, t)).toEqual([["timestamp"]]);
    }
    // Hourly tables: the UNIQUE index leads with timestamp and serves range scans on it.
    expect(indexColumns(db, "hourly_cpu")).toEqual([["timestamp"]]);
    expect(indexColumns(db, "hourly_memory")).toEqual([["timestamp"]]);
    expect(indexColumns(db, "hourly_disk_usage")).toEqual([["timestamp", "device"]]);
    expect(indexColumns(db, "hourly_disk_io")).toEqual([["timestamp", "device"]]);
    expect(indexColumns(db, "hourly_traffic")).toEqual([["timestamp", "name"]]);
  });

  test("records each migration with the clock's time and the sha256 of the embedded SQL", () => {
    const db = rawDb();
    migrate(db, { clock });
    const rows = db.query("SELECT id, applied_at, sha256 FROM schema_migrations ORDER BY id").all();
    expect(rows).toEqual(MIGRATIONS.map((m) => ({ id: m.id, applied_at: clock.now(), sha256: sha256Hex(m.sql) })));
    const file = readFileSync(join(import.meta.dir, "../../migrations/0000_metrics.sql"));
    expect(sha256Hex(MIGRATIONS[0]!.sql)).toBe(new Bun.CryptoHasher("sha256").update(file).digest("hex"));
  });

  test("running it twice is a no-op", () => {
    const db = rawDb();
    migrate(db, { clock });
    const before = { schema: schemaSnapshot(db), rows: db.query("SELECT * FROM schema_migrations").all() };
    expect(migrate(db, { clock: { now: () => clock.now() + 60_000 } })).toEqual([]);
    expect({ schema: schemaSnapshot(db), rows: db.query("SELECT * FROM schema_migrations").all() }).toEqual(before);
  });

  test("applies only the migrations that are new since the last run", () => {
    const db = rawDb();
    migrate(db, { clock });
    const extra: Migration = { id: "9999_extra", sql: "CREATE TABLE extra (x INTEGER NOT NULL) STRICT;" };
    expect(migrate(db, { clock, migrations: [...MIGRATIONS, extra] })).toEqual(["9999_extra"]);
    expect(names(db, "table")).toContain("extra");
    expect(db.query("SELECT id FROM schema_migrations ORDER BY id").values()).toEqual([...MIGRATIONS.map((m) => [m.id]), ["9999_extra"]]);
  });

  test("a failing migration is rolled back with its bookkeeping row and named in the error", () => {
    const db = rawDb();
    const bad: Migration = { id: "9999_bad", sql: "CREATE TABLE half_done (x INTEGER); INSERT INTO nowhere VALUES (1);" };
    const err = catchError(() => migrate(db, { clock, migrations: [...MIGRATIONS, bad] }));
    expect(err).toBeInstanceOf(StateDbError);
    expect((err as Error).message).toContain("migration 9999_bad failed and was rolled back");
    expect((err as Error).message).toContain("no such table: nowhere");
    expect(names(db, "table")).not.toContain("half_done");
    expect(db.query("SELECT id FROM schema_migrations ORDER BY id").values()).toEqual(MIGRATIONS.map((m) => [m.id]));
    expect(db.inTransaction).toBe(false);
  });

  test("a recorded hash that differs from the embedded SQL is a clear error", () => {
    const path = stateDbPath(tmp.path);
    openStateDb(path, { clock }).close();
    const db = new Database(path);
    db.run("UPDATE schema_migrations SET sha256 = 'deadbeef' WHERE id = '0000_metrics'");
    db.close();
    const err = catchError(() => openStateDb(path, { clock }));
    expect(err).toBeInstanceOf(StateDbError);
    expect((err as StateDbError).path).toBe(path);
    expect((err as Error).message).toContain(
      "migration 0000_metrics was applied from different SQL than this binary embeds (recorded sha256 deadbeef",
    );
  });

  test("a migration id this binary does not know means a newer agent wrote the database", () => {
    const path = stateDbPath(tmp.path);
    openStateDb(path, { clock }).close();
    const db = new Database(path);
    db.run("INSERT INTO schema_migrations (id, applied_at, sha256) VALUES ('9999_future', 1, 'x')");
    db.close();
    const err = catchError(() => openStateDb(path, { clock }));
    expect(err).toBeInstanceOf(StateDbError);
    expect((err as Error).message).toContain(
      `database was written by a newer alpamon: unknown migration 9999_future (this binary knows up to ${MIGRATIONS.at(-1)!.id})`,
    );
  });

  test("the migration list must ascend and use NNNN_name ids", () => {
    const db = rawDb();
    const a = { id: "0001_a", sql: "SELECT 1;" };
    expect(() => migrate(db, { migrations: [a, { id: "0000_b", sql: "SELECT 1;" }] })).toThrow("ids must ascend");
    expect(() => migrate(db, { migrations: [a, a] })).toThrow("ids must ascend");
    expect(() => migrate(db, { migrations: [{ id: "init", sql: "SELECT 1;" }] })).toThrow("is not NNNN_name");
    expect(names(db, "table")).toEqual([]);
  });

  test("every file in migrations/ is embedded, in order, byte for byte", () => {
    const dir = join(import.meta.dir, "../../migrations");
    const files = readdirSync(dir)
      .filter((f) => f.endsWith(".sql"))
      .sort();
    expect(MIGRATIONS.map((m) => `${m.id}.sql`)).toEqual(files);
    for (const m of MIGRATIONS) expect(m.sql).toBe(readFileSync(join(dir, `${m.id}.sql`), "utf8"));
  });
});

describe("0000_metrics constraints", () => {
  const HOUR = 3_600_000;
  const t0 = 1_767_225_600_000; // 2026-01-01T00:00:00Z, an hour start

  test("an hourly row for a period that already has one is rejected", () => {
    const db = rawDb();
    migrate(db, { clock });
    db.run("INSERT INTO hourly_cpu (timestamp, peak, avg) VALUES (?1, 50, 20)", [t0]);
    expect(() => db.run("INSERT INTO hourly_cpu (timestamp, peak, avg) VALUES (?1, 60, 30)", [t0])).toThrow(
      "UNIQUE constraint failed: hourly_cpu.timestamp",
    );
    db.run("INSERT INTO hourly_cpu (timestamp, peak, avg) VALUES (?1, 60, 30)", [t0 + HOUR]);

    const io =
      "INSERT INTO hourly_disk_io (timestamp, device, peak_read_bps, peak_write_bps, avg_read_bps, avg_write_bps) " +
      "VALUES (?1, ?2, 1, 1, 1, 1)";
    db.run(io, [t0, "sda"]);
    db.run(io, [t0, "sdb"]);
    expect(() => db.run(io, [t0, "sda"])).toThrow("UNIQUE constraint failed: hourly_disk_io.timestamp, hourly_disk_io.device");
    expect(db.query("SELECT count(*) AS n FROM hourly_cpu").get()).toEqual({ n: 2 });
    expect(db.query("SELECT count(*) AS n FROM hourly_disk_io").get()).toEqual({ n: 2 });
  });

  test("an hourly timestamp that is not the start of an hour is rejected", () => {
    const db = rawDb();
    migrate(db, { clock });
    expect(() => db.run("INSERT INTO hourly_memory (timestamp, peak, avg) VALUES (?1, 1, 1)", [t0 + 1])).toThrow(
      "CHECK constraint failed: hourly_memory_hour_start",
    );
  });

  test("timestamps must be integers: the reference's text timestamps are rejected", () => {
    const db = rawDb();
    migrate(db, { clock });
    expect(() => db.run("INSERT INTO cpu_samples (timestamp, usage) VALUES ('2025-03-13 17:22:32 +0900 KST', 1)")).toThrow(
      "cannot store TEXT value in INTEGER column cpu_samples.timestamp",
    );
    expect(() => db.run("INSERT INTO cpu_samples (timestamp, usage) VALUES (NULL, 1)")).toThrow("NOT NULL");
  });
});
