// Applies the SQL migrations embedded in the binary, oldest first, each exactly once, and records them.
// Never reads migrations from disk at run time (a compiled binary has no migrations/ folder) and never
// applies a migration outside the BEGIN IMMEDIATE transaction that also writes its schema_migrations row.
import type { Database } from "bun:sqlite";
import m0000 from "../../migrations/0000_metrics.sql" with { type: "text" };
import m0001 from "../../migrations/0001_outbox.sql" with { type: "text" };
import m0003 from "../../migrations/0003_inventory.sql" with { type: "text" };
import m0005 from "../../migrations/0005_outbox_headers.sql" with { type: "text" };
import { systemClock, type Clock } from "../platform/clock.ts";
import { StateDbError, describeError } from "./errors.ts";
import { runOnce } from "./prepared.ts";

export interface Migration {
  /** The file name without `.sql`; ids sort in the order they must run. */
  readonly id: string;
  readonly sql: string;
}

/**
 * Every migration this binary knows, in order. To add one: create migrations/NNNN_name.sql, import it
 * above, append one line here. Never edit or reorder a released entry (the sha256 check rejects it).
 */
export const MIGRATIONS: readonly Migration[] = Object.freeze([
  Object.freeze({ id: "0000_metrics", sql: m0000 }),
  Object.freeze({ id: "0001_outbox", sql: m0001 }),
  Object.freeze({ id: "0003_inventory", sql: m0003 }),
  Object.freeze({ id: "0005_outbox_headers", sql: m0005 }),
]);

export interface MigrateOptions {
  migrations?: readonly Migration[];
  /** Source of `applied_at`. */
  clock?: Pick<Clock, "now">;
}

interface RecordedMigration {
  id: string;
  sha256: string;
}

const CREATE_BOOKKEEPING = `CREATE TABLE IF NOT EXISTS schema_migrations (
  id TEXT PRIMARY KEY NOT NULL,
  applied_at INTEGER NOT NULL,
  sha256 TEXT NOT NULL
)`;

const MIGRATION_ID = /^\d{4}_[a-z0-9_]+$/;

export function sha256Hex(text: string): string {
  return new Bun.CryptoHasher("sha256").update(text).digest("hex");
}

/**
 * Brings the database up to date and returns the ids this call applied (empty when another process
 * got there first or nothing was pending). Throws StateDbError for a failed migration, a migration
 * whose recorded hash differs from the embedded SQL, or one this binary does not know.
 */
export function migrate(sqlite: Database, options: MigrateOptions = {}): string[] {
  const migrations = options.migrations ?? MIGRATIONS;
  const clock = options.clock ?? systemClock;
  const path = sqlite.filename || ":memory:";
  checkMigrationList(migrations);
  const expected = new Map(migrations.map((m) => [m.id, sha256Hex(m.sql)]));

  // Fast path without the write lock: an up-to-date database is only read.
  const recorded = readRecorded(sqlite, path);
  verifyRecorded(path, recorded, expected);
  const done = new Set(recorded.map((r) => r.id));
  const pending = migrations.filter((m) => !done.has(m.id));

  const applied: string[] = [];
  for (const migration of pending) {
    // IMMEDIATE takes the write lock before reading, so a second process blocks here (busy_timeout)
    // and then sees the first one's row instead of applying the migration again.
    const ran = runLocked(sqlite, path, migration.id, () => {
      sqlite.run(CREATE_BOOKKEEPING);
      const now = readRecorded(sqlite, path);
      verifyRecorded(path, now, expected);
      if (now.some((r) => r.id === migration.id)) return false;
      sqlite.run(migration.sql);
      runOnce(sqlite, "INSERT INTO schema_migrations (id, applied_at, sha256) VALUES (?1, ?2, ?3)", (s) =>
        s.run(migration.id, clock.now(), expected.get(migration.id)!),
      );
      return true;
    });
    if (ran) applied.push(migration.id);
  }
  return applied;
}

function runLocked(sqlite: Database, path: string, id: string, work: () => boolean): boolean {
  try {
    return sqlite.transaction(work).immediate();
  } catch (err) {
    if (err instanceof StateDbError) throw err;
    throw new StateDbError(path, `migration ${id} failed and was rolled back: ${describeError(err)}`, {
      cause: err,
    });
  }
}

function readRecorded(sqlite: Database, path: string): RecordedMigration[] {
  try {
    const exists = runOnce(sqlite, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'", (s) => s.get());
    if (!exists) return [];
    return runOnce(sqlite, "SELECT id, sha256 FROM schema_migrations ORDER BY id", (s) => s.all() as RecordedMigration[]);
  } catch (err) {
    throw new StateDbError(path, `cannot read schema_migrations: ${describeError(err)}`, { cause: err });
  }
}

function verifyRecorded(path: string, recorded: RecordedMigration[], expected: Map<string, string>): void {
  const unknown = recorded.filter((r) => !expected.has(r.id)).map((r) => r.id);
  if (unknown.length > 0) {
    const newest = [...expected.keys()].at(-1) ?? "none";
    throw new StateDbError(
      path,
      `database was written by a newer alpamon: unknown migration ${unknown.join(", ")} ` +
        `(this binary knows up to ${newest}); run the newer alpamon or move the database aside`,
    );
  }
  for (const r of recorded) {
    const want = expected.get(r.id)!;
    if (r.sha256 !== want) {
      throw new StateDbError(
        path,
        `migration ${r.id} was applied from different SQL than this binary embeds ` +
          `(recorded sha256 ${r.sha256}, embedded ${want}); a released migration must never change`,
      );
    }
  }
}

function checkMigrationList(migrations: readonly Migration[]): void {
  let previous = "";
  for (const m of migrations) {
    if (!MIGRATION_ID.test(m.id)) throw new Error(`migration id ${JSON.stringify(m.id)} is not NNNN_name`);
    if (m.id <= previous) throw new Error(`migration ${m.id} is listed after ${previous}: ids must ascend`);
    previous = m.id;
  }
}
