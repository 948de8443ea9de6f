// Tests for openStateDb: pragmas, file and directory modes, WAL checkpoint, typed access, clear errors.
// Never leave a database open or a temp dir behind (useTempDir closes and removes them in afterEach).
import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { count, eq } from "drizzle-orm";
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { StateDbError } from "../../src/db/errors.ts";
import { MIGRATIONS } from "../../src/db/migrate.ts";
import { openStateDb, stateDbPath, stateDrizzle, type StateDb } from "../../src/db/open.ts";
import { cpuSamples, hourlyDiskUsage } from "../../src/db/schema.ts";
import { runnableByOthers } from "../helpers/reachable.ts";
import { useTempDir } from "./temp-dir.ts";

const tmp = useTempDir();
const clock = { now: () => 1_767_225_600_000 };

const mode = (path: string) => statSync(path).mode & 0o777;

function open(path = stateDbPath(tmp.path)): StateDb {
  return tmp.track(openStateDb(path, { clock }));
}

function openError(path: string): StateDbError {
  try {
    tmp.track(openStateDb(path, { clock }));
  } catch (err) {
    expect(err).toBeInstanceOf(StateDbError);
    return err as StateDbError;
  }
  throw new Error(`expected openStateDb(${path}) to fail`);
}

describe("openStateDb", () => {
  test("stateDbPath puts alpamon.db inside the data directory", () => {
    expect(stateDbPath("/var/lib/alpamon")).toBe("/var/lib/alpamon/alpamon.db");
    expect(stateDbPath("/var/lib/alpamon/")).toBe("/var/lib/alpamon/alpamon.db");
  });

  test("pragmas are in effect: WAL, synchronous NORMAL, foreign keys, 5 s busy timeout", () => {
    const { sqlite } = open();
    expect(sqlite.query("PRAGMA journal_mode").get()).toEqual({ journal_mode: "wal" });
    expect(sqlite.query("PRAGMA synchronous").get()).toEqual({ synchronous: 1 });
    expect(sqlite.query("PRAGMA foreign_keys").get()).toEqual({ foreign_keys: 1 });
    expect(sqlite.query("PRAGMA busy_timeout").get()).toEqual({ timeout: 5000 });
  });

  test("creates a missing data directory with mode 0700 and the file with mode 0600", () => {
    const dir = join(tmp.path, "var", "lib", "alpamon");
    const state = open(stateDbPath(dir));
    expect(state.path).toBe(join(dir, "alpamon.db"));
    expect(state.applied).toEqual(MIGRATIONS.map((m) => m.id));
    expect(mode(dir)).toBe(0o700);
    expect(mode(state.path)).toBe(0o600);
    state.db.insert(cpuSamples).values({ timestamp: clock.now(), usage: 1 }).run();
    for (const sidecar of ["-wal", "-shm"]) {
      expect(existsSync(state.path + sidecar)).toBe(true);
      expect(mode(state.path + sidecar)).toBe(0o600);
    }
  });

  test("tightens an existing database file and leftover -wal to 0600 (the Go agent used 0750)", () => {
    const path = stateDbPath(tmp.path);
    const legacy = new Database(path);
    legacy.run("CREATE TABLE cp_us (id INTEGER PRIMARY KEY, timestamp TEXT, usage REAL)");
    legacy.close();
    chmodSync(path, 0o750);
    writeFileSync(`${path}-wal`, "");
    chmodSync(`${path}-wal`, 0o644);
    const state = open(path);
    expect(mode(path)).toBe(0o600);
    expect(mode(`${path}-wal`)).toBe(0o600);
    expect(state.applied).toEqual(MIGRATIONS.map((m) => m.id));
  });

  test("reopening an up-to-date database applies nothing and keeps the data", () => {
    const first = open();
    first.db.insert(cpuSamples).values({ timestamp: clock.now(), usage: 42.5 }).run();
    first.close();
    const second = open();
    expect(second.applied).toEqual([]);
    expect(second.db.select().from(cpuSamples).all()).toEqual([{ id: 1, timestamp: clock.now(), usage: 42.5 }]);
  });

  test("one drizzle view per connection: every store of a connection gets the one openStateDb made", () => {
    const first = open();
    const second = open(":memory:");
    expect(stateDrizzle(first.sqlite)).toBe(first.db);
    expect(stateDrizzle(first.sqlite)).toBe(stateDrizzle(first.sqlite));
    expect(stateDrizzle(second.sqlite)).toBe(second.db);
    expect(second.db).not.toBe(first.db);
  });

  test("the drizzle handle is typed on the schema and round-trips integers and reals", () => {
    const { db } = open();
    const hour = 1_767_225_600_000;
    const big = 2 ** 52 + 1; // bytes beyond 32 bits must survive
    const row = { timestamp: hour, device: "/dev/sda1", peak: 91.5, avg: 80.25, total: big, free: 1, used: 2 };
    db.insert(hourlyDiskUsage).values(row).run();
    db.insert(hourlyDiskUsage)
      .values({ timestamp: hour, device: "/dev/sda1", peak: 1, avg: 1, total: 1, free: 1, used: 1 })
      .onConflictDoNothing()
      .run();
    const rows = db.select().from(hourlyDiskUsage).where(eq(hourlyDiskUsage.device, "/dev/sda1")).all();
    expect(rows).toEqual([{ id: 1, ...row }]);
  });

  test("checkpoint() truncates the WAL", () => {
    const state = open();
    for (let i = 0; i < 200; i++)
      state.db
        .insert(cpuSamples)
        .values({ timestamp: clock.now() + i, usage: i })
        .run();
    expect(statSync(`${state.path}-wal`).size).toBeGreaterThan(0);
    const result = state.checkpoint();
    expect(result.busy).toBe(0);
    expect(statSync(`${state.path}-wal`).size).toBe(0);
    expect(state.db.select({ n: count() }).from(cpuSamples).get()).toEqual({ n: 200 });
  });

  test("shrinkMemory() lets go of the page cache: the next read comes from the file again", () => {
    const state = open();
    const insert = state.sqlite.prepare("INSERT INTO kv (key, value) VALUES (?, ?)");
    for (let i = 0; i < 100; i++) insert.run(`big-${i}`, "x".repeat(3000)); // about 300 KB, within the 512 KiB cache
    insert.finalize();
    state.checkpoint();
    const readAll = state.sqlite.prepare("SELECT sum(length(value)) AS n FROM kv WHERE key LIKE 'big-%'");
    /** Bytes this process read through read(2) and friends while reading the table. */
    const bytesRead = () => {
      const rchar = () => Number(/^rchar: (\d+)$/m.exec(readFileSync("/proc/self/io", "utf8"))![1]);
      const before = rchar();
      expect(readAll.get()).toEqual({ n: 300_000 });
      return rchar() - before;
    };
    bytesRead(); // the pages are now in the connection's cache
    expect(bytesRead()).toBeLessThan(64 * 1024);
    state.shrinkMemory();
    expect(bytesRead()).toBeGreaterThan(256 * 1024);
    readAll.finalize();
    state.close();
    state.shrinkMemory(); // closed: nothing to do, no error
  });

  test("close() can be called twice; the handle is unusable afterwards", () => {
    const state = open();
    state.close();
    state.close();
    expect(() => state.sqlite.query("SELECT 1").get()).toThrow();
  });

  test(":memory: opens, migrates and works without touching the disk", () => {
    const state = open(":memory:");
    expect(state.path).toBe(":memory:");
    expect(state.applied).toEqual(MIGRATIONS.map((m) => m.id));
    state.db.insert(cpuSamples).values({ timestamp: 1, usage: 2 }).run();
    expect(state.db.select({ n: count() }).from(cpuSamples).get()).toEqual({ n: 1 });
  });
});

describe("openStateDb errors name the path and the problem", () => {
  test("a data directory that cannot be created", () => {
    const blocker = join(tmp.path, "not-a-dir");
    writeFileSync(blocker, "");
    const path = join(blocker, "sub", "alpamon.db");
    const err = openError(path);
    expect(err.path).toBe(path);
    expect(err.message).toBe(
      `state database ${path}: cannot create directory ${join(blocker, "sub")}: ` +
        `a component of the path is not a directory (ENOTDIR: mkdir ${join(blocker, "sub")})`,
    );
  });

  test("a data directory path that is a file", () => {
    const blocker = join(tmp.path, "file");
    writeFileSync(blocker, "");
    const err = openError(join(blocker, "alpamon.db"));
    expect(err.message).toContain("not a directory");
    expect(err.message).toContain(`state database ${join(blocker, "alpamon.db")}:`);
  });

  test("the database path is a directory", () => {
    const path = join(tmp.path, "alpamon.db");
    mkdirSync(path);
    const err = openError(path);
    expect(err.message).toStartWith(`state database ${path}: cannot create the database file: is a directory (EISDIR`);
  });

  test("a file that is not a SQLite database", () => {
    const path = stateDbPath(tmp.path);
    writeFileSync(path, "this is not a database ".repeat(100));
    const err = openError(path);
    expect(err.message).toStartWith(`state database ${path}: cannot set up the database: the file is not a SQLite database (move it aside`);
    expect(err.message).not.toContain("    at ");
  });

  test("a data directory the agent's user cannot write to", async () => {
    // As root every directory is writable, so the open runs in a child under the "nobody" user.
    const asRoot = process.getuid?.() === 0;
    const dir = join(tmp.path, "ro");
    mkdirSync(dir);
    chmodSync(tmp.path, 0o711);
    chmodSync(dir, asRoot ? 0o755 : 0o500);
    // From a checkout "nobody" cannot reach (inside a 0700 directory), the child runs from a reachable copy.
    const child = Bun.spawn([...runnableByOthers(join(import.meta.dir, "open-child.ts")), stateDbPath(dir)], {
      ...(asRoot ? { uid: 65534, gid: 65534 } : {}),
      cwd: "/",
      stdout: "pipe",
      stderr: "pipe",
    });
    const [code, out, errOut] = await Promise.all([child.exited, child.stdout.text(), child.stderr.text()]);
    chmodSync(dir, 0o700);
    expect({ code, errOut }).toEqual({ code: 0, errOut: "" });
    expect(out.trim()).toBe(
      `StateDbError: state database ${stateDbPath(dir)}: directory ${dir} is not writable ` +
        `(WAL mode creates alpamon.db-wal and alpamon.db-shm beside the database): permission denied (EACCES: access ${dir})`,
    );
  });
});
