// Keeps src/db/schema.ts and migrations/*.sql from drifting: every drizzle table is compared with what
// the migrations really create. Never weaken a comparison to make a drift pass; fix the schema instead.
import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { is } from "drizzle-orm";
import { getTableConfig, integer, real, SQLiteSyncDialect, SQLiteTable, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { join } from "node:path";
import { migrate } from "../../src/db/migrate.ts";
import * as schema from "../../src/db/schema.ts";
import { useTempDir } from "./temp-dir.ts";

const tmp = useTempDir();

interface TableShape {
  columns: { name: string; type: string; notNull: boolean; primaryKey: boolean; autoIncrement: boolean; hasDefault: boolean }[];
  indexes: { name: string; columns: string[]; unique: boolean }[];
  uniques: string[][];
  checks: { name: string; expr: string }[];
  foreignKeys: { columns: string[]; table: string; foreignColumns: string[] }[];
}

const normalise = (expr: string) => expr.replace(/\s+/g, " ").trim();

function drizzleShape(table: SQLiteTable): TableShape {
  const cfg = getTableConfig(table);
  const dialect = new SQLiteSyncDialect();
  const qualifier = `"${cfg.name}".`;
  return {
    columns: cfg.columns.map((c) => ({
      name: c.name,
      type: c.getSQLType().toLowerCase(),
      notNull: c.notNull,
      primaryKey: c.primary,
      autoIncrement: (c as { autoIncrement?: boolean }).autoIncrement === true,
      hasDefault: c.hasDefault,
    })),
    indexes: cfg.indexes
      .map((i) => ({
        name: i.config.name,
        columns: i.config.columns.map((c) => (c as { name: string }).name),
        unique: i.config.unique,
      }))
      .sort((a, b) => a.name.localeCompare(b.name)),
    uniques: cfg.uniqueConstraints.map((u) => u.columns.map((c) => c.name)).sort(),
    checks: cfg.checks
      .map((c) => ({ name: c.name, expr: normalise(dialect.sqlToQuery(c.value).sql.replaceAll(qualifier, "")) }))
      .sort((a, b) => a.name.localeCompare(b.name)),
    foreignKeys: cfg.foreignKeys.map((fk) => {
      const ref = fk.reference();
      return {
        columns: ref.columns.map((c) => c.name),
        table: getTableConfig(ref.foreignTable).name,
        foreignColumns: ref.foreignColumns.map((c) => c.name),
      };
    }),
  };
}

function databaseShape(db: Database, table: string): TableShape {
  const createSql = (
    db.query("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?1").get(table) as {
      sql: string;
    }
  ).sql;
  const info = db.query(`PRAGMA table_info("${table}")`).all() as {
    name: string;
    type: string;
    notnull: number;
    dflt_value: unknown;
    pk: number;
  }[];
  const indexList = db.query(`PRAGMA index_list("${table}")`).all() as { name: string; unique: number; origin: string }[];
  const indexColumns = (index: string) => (db.query(`PRAGMA index_info("${index}")`).all() as { name: string }[]).map((c) => c.name);
  const fkRows = db.query(`PRAGMA foreign_key_list("${table}")`).all() as { id: number; table: string; from: string; to: string }[];
  const fks = new Map<number, TableShape["foreignKeys"][number]>();
  for (const r of fkRows) {
    const fk = fks.get(r.id) ?? { columns: [], table: r.table, foreignColumns: [] };
    fk.columns.push(r.from);
    fk.foreignColumns.push(r.to);
    fks.set(r.id, fk);
  }
  return {
    columns: info.map((c) => ({
      name: c.name,
      type: c.type.toLowerCase(),
      // An INTEGER PRIMARY KEY is the rowid and can never hold NULL, which drizzle reports as notNull.
      notNull: c.notnull === 1 || c.pk > 0,
      primaryKey: c.pk > 0,
      autoIncrement: new RegExp(`\\b"?${c.name}"?\\s+INTEGER\\s+PRIMARY\\s+KEY\\s+AUTOINCREMENT\\b`, "i").test(createSql),
      // SQLite fills an INTEGER PRIMARY KEY (the rowid) itself; drizzle counts that as a default.
      hasDefault: c.dflt_value !== null || (c.pk > 0 && c.type.toUpperCase() === "INTEGER"),
    })),
    indexes: indexList
      .filter((i) => i.origin === "c")
      .map((i) => ({ name: i.name, columns: indexColumns(i.name), unique: i.unique === 1 }))
      .sort((a, b) => a.name.localeCompare(b.name)),
    uniques: indexList
      .filter((i) => i.origin === "u")
      .map((i) => indexColumns(i.name))
      .sort(),
    checks: [...createSql.matchAll(/CONSTRAINT\s+(\w+)\s+CHECK\s*\(([^()]*)\)/gi)]
      .map((m) => ({ name: m[1]!, expr: normalise(m[2]!) }))
      .sort((a, b) => a.name.localeCompare(b.name)),
    foreignKeys: [...fks.values()],
  };
}

function migratedDb(): Database {
  const db = tmp.track(new Database(join(tmp.path, "schema.db")));
  migrate(db);
  return db;
}

const drizzleTables: SQLiteTable[] = Object.values(schema as Record<string, unknown>).filter((v): v is SQLiteTable => is(v, SQLiteTable));

describe("drizzle schema vs migrated database", () => {
  test("declares exactly the tables the migrations create", () => {
    const db = migratedDb();
    const created = (
      db
        .query("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name != 'schema_migrations'")
        .all() as { name: string }[]
    ).map((r) => r.name);
    expect(drizzleTables.map((t) => getTableConfig(t).name).sort()).toEqual(created.sort());
    expect(drizzleTables.length).toBeGreaterThanOrEqual(10);
  });

  for (const table of drizzleTables) {
    const name = getTableConfig(table).name;
    test(`${name}: columns (name, type, NOT NULL, key), indexes, UNIQUE, CHECK and foreign keys match`, () => {
      const db = migratedDb();
      expect(drizzleShape(table)).toEqual(databaseShape(db, name));
    });
  }

  test("the comparison notices a drift (a text timestamp, a lost NOT NULL, a missing index)", () => {
    const db = migratedDb();
    const actual = databaseShape(db, "cpu_samples");
    const id = () => integer("id").primaryKey({ autoIncrement: true });
    const drifted = [
      sqliteTable("cpu_samples", { id: id(), timestamp: text("timestamp").notNull(), usage: real("usage").notNull() }),
      sqliteTable("cpu_samples", { id: id(), timestamp: integer("timestamp").notNull(), usage: real("usage") }),
      sqliteTable("cpu_samples", { id: id(), timestamp: integer("timestamp").notNull(), usage: real("usage").notNull() }),
    ];
    for (const t of drifted) expect(drizzleShape(t)).not.toEqual(actual);
    expect(drizzleShape(schema.cpuSamples)).toEqual(actual);
  });
});
