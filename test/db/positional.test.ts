// positional (db/prepared.ts): a statement drizzle builds from the schema, run straight on bun:sqlite with its
// values in a given order. It must write exactly what drizzle's own run writes, and refuse, when built, an order
// that is not the statement's, a column that would encode its value, and a value that is not a placeholder. And
// runOnce: a statement compiled for one use and finalized after it.
// A real SQLite file in a temp dir.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { sql } from "drizzle-orm";
import { drizzle } from "drizzle-orm/bun-sqlite";
import { integer, real, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Statement } from "bun:sqlite";
import { positional, runOnce } from "../../src/db/prepared.ts";

const samples = sqliteTable("samples", {
  id: integer("id").primaryKey(),
  timestamp: integer("timestamp").notNull(),
  device: text("device").notNull(),
  usage: real("usage").notNull(),
});
const stamped = sqliteTable("stamped", { id: integer("id").primaryKey(), at: integer("at", { mode: "timestamp" }).notNull() });
const p = (name: string) => sql.placeholder(name);

let dir = "";
let sqlite: Database;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "alpamon-positional-"));
  sqlite = new Database(join(dir, "t.db"), { create: true, strict: true });
  sqlite.run("CREATE TABLE samples (id INTEGER PRIMARY KEY, timestamp INTEGER NOT NULL, device TEXT NOT NULL, usage REAL NOT NULL)");
  sqlite.run("CREATE TABLE stamped (id INTEGER PRIMARY KEY, at INTEGER NOT NULL)");
});
afterEach(() => {
  sqlite.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("positional", () => {
  test("writes what drizzle's own prepared statement writes, with the values in the order given", () => {
    const db = drizzle({ client: sqlite });
    const insert = () => db.insert(samples).values({ timestamp: p("timestamp"), device: p("device"), usage: p("usage") });
    const direct = positional(sqlite, insert(), ["timestamp", "device", "usage"]);
    direct.run(1_700_000_000_000, "sda", 12.5);
    insert().prepare().run({ timestamp: 1_700_000_000_000, device: "sda", usage: 12.5 });
    const rows = db.select({ timestamp: samples.timestamp, device: samples.device, usage: samples.usage }).from(samples).all();
    expect(rows).toEqual([
      { timestamp: 1_700_000_000_000, device: "sda", usage: 12.5 },
      { timestamp: 1_700_000_000_000, device: "sda", usage: 12.5 },
    ]);
  });

  test("refuses, when built, an order that is not the statement's, naming both", () => {
    const db = drizzle({ client: sqlite });
    const insert = db.insert(samples).values({ timestamp: p("timestamp"), device: p("device"), usage: p("usage") });
    expect(() => positional(sqlite, insert, ["timestamp", "usage", "device"])).toThrow(
      "the placeholders are timestamp, device, usage, not timestamp, usage, device",
    );
    expect(() => positional(sqlite, insert, ["timestamp", "device"])).toThrow("not timestamp, device");
  });

  test("refuses a column that encodes its value, and a value that is not a placeholder", () => {
    const db = drizzle({ client: sqlite });
    expect(() => positional(sqlite, db.insert(stamped).values({ at: p("at") }), ["at"])).toThrow(
      "placeholder at has a column encoding; run it through drizzle",
    );
    expect(() =>
      positional(sqlite, db.insert(samples).values({ timestamp: 1, device: p("device"), usage: p("usage") }), ["device", "usage"]),
    ).toThrow("a value in the statement is not a placeholder");
  });
});

describe("runOnce", () => {
  test("runs the statement, returns what use returns, and finalizes it", () => {
    sqlite.run("INSERT INTO samples (timestamp, device, usage) VALUES (1, 'sda', 2.5), (2, 'sdb', 3.5)");
    let kept: Statement | undefined;
    const rows = runOnce(sqlite, "SELECT device FROM samples WHERE timestamp > ?1 ORDER BY id", (s) => {
      kept = s;
      return s.all(1);
    });
    expect(rows).toEqual([{ device: "sdb" }]);
    expect(() => kept!.all(0)).toThrow("finalized");
  });

  test("finalizes it when use throws, and the error comes through", () => {
    let kept: Statement | undefined;
    expect(() =>
      runOnce(sqlite, "SELECT 1", (s) => {
        kept = s;
        throw new Error("use failed");
      }),
    ).toThrow("use failed");
    expect(() => kept!.get()).toThrow("finalized");
  });
});
