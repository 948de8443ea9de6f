// Opens the agent's local SQLite state database: directory and file modes, pragmas, migrations, drizzle.
// Never keep a handle in a module-level variable (the composition root owns it) and never let a raw
// SQLite or errno error escape: every failure is a StateDbError naming the path and the problem.
import { Database } from "bun:sqlite";
import { drizzle, type BunSQLiteDatabase } from "drizzle-orm/bun-sqlite";
import { accessSync, chmodSync, closeSync, constants, existsSync, mkdirSync, openSync, statSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import type { Clock } from "../platform/clock.ts";
import { StateDbError, describeError, toStateDbError } from "./errors.ts";
import { migrate } from "./migrate.ts";
import { runOnce } from "./prepared.ts";

export const STATE_DB_FILE = "alpamon.db";
export const BUSY_TIMEOUT_MS = 5000;
const DIR_MODE = 0o700;
const FILE_MODE = 0o600;
const WAL_SWITCH_PAUSE_MS = 5;
// About the busy timeout in total (each pause is 5-10 ms).
const WAL_SWITCH_ATTEMPTS = Math.ceil(BUSY_TIMEOUT_MS / (1.5 * WAL_SWITCH_PAUSE_MS));

export type StateDrizzle = BunSQLiteDatabase;

/** The row `PRAGMA wal_checkpoint(TRUNCATE)` returns. */
export interface WalCheckpoint {
  /** 1 when a reader or writer kept the checkpoint from completing. */
  busy: number;
  /** Frames in the WAL before the checkpoint (0 afterwards when TRUNCATE succeeded). */
  log: number;
  checkpointed: number;
}

export interface StateDb {
  /** Absolute path of the database file, or ":memory:". */
  readonly path: string;
  readonly sqlite: Database;
  readonly db: StateDrizzle;
  /** Migration ids this open applied; empty when the database was already current. */
  readonly applied: readonly string[];
  /** Folds the WAL back into the database and truncates it; call after roll-ups and prunes. */
  checkpoint(): WalCheckpoint;
  /**
   * Lets go of the connection's page cache (`PRAGMA shrink_memory`): what a rare large write (a commit with
   * every package) left there is freed, and the idle loop's few hot pages are read back from the kernel's page
   * cache. Best effort: does nothing once closed, and an error is ignored (nothing is lost by keeping the cache).
   */
  shrinkMemory(): void;
  /** Closes the connection; calling it again does nothing. */
  close(): void;
}

export interface OpenStateDbOptions {
  /** Source of `schema_migrations.applied_at`. */
  clock?: Pick<Clock, "now">;
}

const views = new WeakMap<Database, StateDrizzle>();

/**
 * The drizzle view of an open state database connection, one per connection. Without the schema: the stores
 * build their statements from the tables they import, and never use drizzle's relational API (`db.query.*`),
 * which the schema would make drizzle set up for every table in every view.
 */
export function stateDrizzle(sqlite: Database): StateDrizzle {
  let view = views.get(sqlite);
  if (!view) {
    view = drizzle({ client: sqlite });
    views.set(sqlite, view);
  }
  return view;
}

/** Where the state database lives inside the configured `[agent] data_dir`. */
export function stateDbPath(dataDir: string): string {
  return join(dataDir, STATE_DB_FILE);
}

export function openStateDb(path: string, opts: OpenStateDbOptions = {}): StateDb {
  const inMemory = path === ":memory:";
  const file = inMemory ? path : resolve(path);
  if (!inMemory) prepareFile(file);

  let sqlite: Database;
  try {
    sqlite = new Database(file, { create: true, readwrite: true, strict: true });
  } catch (err) {
    throw toStateDbError(file, "cannot open", err);
  }

  let applied: string[];
  try {
    applyPragmas(sqlite, file, inMemory);
    applied = migrate(sqlite, { clock: opts.clock });
    if (!inMemory) restrictSidecars(file);
  } catch (err) {
    sqlite.close();
    throw toStateDbError(file, "cannot set up the database", err);
  }

  const db = stateDrizzle(sqlite);
  let closed = false;
  return {
    path: file,
    sqlite,
    db,
    applied,
    checkpoint() {
      try {
        return runOnce(sqlite, "PRAGMA wal_checkpoint(TRUNCATE)", (s) => s.get() as WalCheckpoint);
      } catch (err) {
        throw toStateDbError(file, "WAL checkpoint failed", err);
      }
    },
    shrinkMemory() {
      if (closed) return;
      try {
        sqlite.run("PRAGMA shrink_memory");
      } catch {
        // the cache stays; the next round tries again
      }
    },
    close() {
      if (closed) return;
      closed = true;
      sqlite.close();
    },
  };
}

/** Creates the directory (0700) if missing and the file with mode 0600 before SQLite touches it. */
function prepareFile(file: string): void {
  const dir = dirname(file);
  if (!existsSync(dir)) {
    try {
      mkdirSync(dir, { recursive: true, mode: DIR_MODE });
      chmodSync(dir, DIR_MODE); // the umask may have removed bits; make the mode exact
    } catch (err) {
      throw new StateDbError(file, `cannot create directory ${dir}: ${describeError(err)}`, { cause: err });
    }
  }
  try {
    if (!statSync(dir).isDirectory()) throw new StateDbError(file, `${dir} is not a directory`);
    accessSync(dir, constants.W_OK | constants.X_OK);
  } catch (err) {
    if (err instanceof StateDbError) throw err;
    const name = basename(file);
    throw new StateDbError(
      file,
      `directory ${dir} is not writable (WAL mode creates ${name}-wal and ${name}-shm beside the ` + `database): ${describeError(err)}`,
      { cause: err },
    );
  }
  try {
    // Creating it ourselves means SQLite never creates it with the umask's mode; SQLite then gives the
    // -wal and -shm files the same mode as the database file.
    closeSync(openSync(file, "a", FILE_MODE));
  } catch (err) {
    throw toStateDbError(file, "cannot create the database file", err);
  }
  try {
    chmodSync(file, FILE_MODE); // an existing file (e.g. the Go agent's, mode 0750) is tightened too
  } catch (err) {
    throw toStateDbError(file, "cannot restrict the database file to mode 0600", err);
  }
}

function applyPragmas(sqlite: Database, file: string, inMemory: boolean): void {
  // busy_timeout first, so every later step waits for another process's lock instead of failing
  // (the WAL switch needs a retry on top, see switchToWal).
  sqlite.run(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
  const mode = switchToWal(sqlite);
  if (!inMemory && mode !== "wal") {
    throw new StateDbError(
      file,
      `could not switch to WAL journal mode (SQLite kept "${mode}"); the file system may not support ` +
        `the shared memory WAL needs (e.g. a network file system); use a local data_dir`,
    );
  }
  sqlite.run("PRAGMA synchronous = NORMAL");
  sqlite.run("PRAGMA foreign_keys = ON");
  // 512 KiB of page cache instead of SQLite's 2 MiB: the hot pages (index roots, the tails of the sample and
  // outbox tables) fit, and the rest is in the kernel's page cache anyway; every MiB here is agent RSS.
  sqlite.run("PRAGMA cache_size = -512");
}

/**
 * Sets journal_mode=WAL and returns the mode SQLite reports. The busy timeout alone is not enough here:
 * two processes opening a fresh (rollback-journal) file both hold SHARED, and the one that wants
 * EXCLUSIVE for the switch gets SQLITE_BUSY at once, because SQLite skips the busy handler when waiting
 * could deadlock. Retrying after a short, jittered pause lets the other finish; then WAL is already on.
 */
function switchToWal(sqlite: Database): string | undefined {
  for (let attempt = 1; ; attempt++) {
    try {
      const row = runOnce(sqlite, "PRAGMA journal_mode = WAL", (s) => s.get() as { journal_mode?: string } | null);
      return row?.journal_mode?.toLowerCase();
    } catch (err) {
      const code = (err as { code?: unknown }).code;
      const busy = typeof code === "string" && code.startsWith("SQLITE_BUSY");
      if (!busy || attempt >= WAL_SWITCH_ATTEMPTS) throw err;
      Bun.sleepSync(WAL_SWITCH_PAUSE_MS + Math.random() * WAL_SWITCH_PAUSE_MS);
    }
  }
}

/** -wal/-shm left by an older run may have a looser mode than the database file; tighten them. */
function restrictSidecars(file: string): void {
  for (const suffix of ["-wal", "-shm"]) {
    try {
      chmodSync(file + suffix, FILE_MODE);
    } catch {
      // Missing (not created yet, or removed on close) or not ours: SQLite copies the database
      // file's 0600 when it creates them, so there is nothing more to do.
    }
  }
}
