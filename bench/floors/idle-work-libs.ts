// A floor for bench/footprint.ts: idle-work.ts plus the libraries the design card prescribes, loaded and used
// once a cycle the way the agent uses them (commander parses the command line, ini and valibot read a config,
// drizzle reads the database), still without the agent's own code.
// Run (compiled by the benchmark): idle-work-libs <ws url> <post url> <database file>
import { Command } from "commander";
import { count } from "drizzle-orm";
import { drizzle } from "drizzle-orm/bun-sqlite";
import { integer, sqliteTable, text } from "drizzle-orm/sqlite-core";
import { parse as parseIni } from "ini";
import * as v from "valibot";
import { startIdleWork } from "./idle-work.ts";

const program = new Command("idle-work-libs").argument("<ws>").argument("<post>").argument("<db>").option("--once").parse();
const config = v.parse(
  v.object({
    server: v.object({ url: v.pipe(v.string(), v.url()), id: v.string() }),
    logging: v.object({ debug: v.optional(v.boolean()) }),
  }),
  parseIni("[server]\nurl = http://127.0.0.1/\nid = x\n[logging]\ndebug = false\n", {}),
  // ini gives strings; the schema above reads only what it can
  { abortEarly: false },
);
void config;
const { db } = startIdleWork(program.args);
const samples = sqliteTable("samples", {
  id: integer("id").primaryKey(),
  kind: text("kind").notNull(),
  at: integer("at").notNull(),
  value: text("value").notNull(),
});
const orm = drizzle(db);
const counted = orm.select({ n: count() }).from(samples).prepare();
setInterval(() => void counted.get(), 5_000);
