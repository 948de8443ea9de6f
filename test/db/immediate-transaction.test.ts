// immediateTransaction (db/prepared.ts): BEGIN IMMEDIATE … COMMIT with statements prepared once; a failure
// rolls back; a nested call is a savepoint, so an inner failure the outer catches undoes only the inner work.
// Real SQLite files in a temp dir.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { immediateTransaction } from "../../src/db/prepared.ts";

let dir = "";
let db: Database;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "alpamon-txn-"));
  db = new Database(join(dir, "t.db"), { create: true, strict: true });
  db.run("PRAGMA journal_mode = WAL");
  db.run("CREATE TABLE t (v INTEGER)");
});
afterEach(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});
const values = () => (db.query("SELECT v FROM t ORDER BY v").all() as { v: number }[]).map((r) => r.v);

describe("immediateTransaction", () => {
  test("commits, returns the work's value, and takes the write lock before the work runs", () => {
    const tx = immediateTransaction(db);
    const other = new Database(join(dir, "t.db"), { strict: true });
    try {
      other.run("PRAGMA busy_timeout = 0");
      const result = tx(() => {
        // Another connection cannot start a write while ours holds the IMMEDIATE lock, even before we wrote.
        expect(() => other.run("BEGIN IMMEDIATE")).toThrow(/locked|busy/i);
        db.run("INSERT INTO t VALUES (1)");
        return 42;
      });
      expect(result).toBe(42);
      expect(db.inTransaction).toBe(false);
      expect((other.query("SELECT count(*) AS n FROM t").get() as { n: number }).n).toBe(1);
    } finally {
      other.close();
    }
  });

  test("a throwing work rolls everything back and rethrows", () => {
    const tx = immediateTransaction(db);
    expect(() =>
      tx(() => {
        db.run("INSERT INTO t VALUES (1)");
        throw new Error("boom");
      }),
    ).toThrow("boom");
    expect(db.inTransaction).toBe(false);
    expect(values()).toEqual([]);
    tx(() => db.run("INSERT INTO t VALUES (2)")); // usable again
    expect(values()).toEqual([2]);
  });

  test("nested: an inner failure caught by the outer undoes only the inner work", () => {
    const tx = immediateTransaction(db);
    tx(() => {
      db.run("INSERT INTO t VALUES (1)");
      try {
        tx(() => {
          db.run("INSERT INTO t VALUES (2)");
          throw new Error("inner");
        });
      } catch {
        // the outer goes on
      }
      db.run("INSERT INTO t VALUES (3)");
    });
    expect(values()).toEqual([1, 3]);
  });

  test("one runner per connection", () => {
    expect(immediateTransaction(db)).toBe(immediateTransaction(db));
  });
});
