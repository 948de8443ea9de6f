// Two real processes on one fresh database file: both race on the first migration, then insert rows in
// autocommit at the same time. Never replace the processes with in-process connections (not the same locks).
import { Database } from "bun:sqlite";
import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { MIGRATIONS } from "../../src/db/migrate.ts";
import { stateDbPath } from "../../src/db/open.ts";
import { eventually } from "../console/fake-console-waits.ts";
import { useTempDir } from "./temp-dir.ts";

const tmp = useTempDir();
const ROWS = 500;
const WORKER = join(import.meta.dir, "insert-worker.ts");

async function run(children: Bun.Subprocess<"ignore", "pipe", "pipe">[]) {
  return Promise.all(children.map(async (c) => ({ code: await c.exited, out: await c.stdout.text(), err: await c.stderr.text() })));
}

interface WorkerReport {
  applied: string[];
  openedAt: number;
  openDoneAt: number;
  lastInsertAt: number;
}

describe("two processes on one database", () => {
  test("both migrate and insert concurrently: no lock errors, every row stored, each migration applied once", async () => {
    const path = stateDbPath(join(tmp.path, "data"));
    const gate = join(tmp.path, "gate");
    mkdirSync(gate);
    const children = [1, 2].map((tag) =>
      Bun.spawn([process.execPath, WORKER, path, gate, String(tag), String(ROWS)], {
        stdout: "pipe",
        stderr: "pipe",
      }),
    );
    // Both started up, however long that took: then they open the file at the same moment.
    const ready = () => [1, 2].every((tag) => existsSync(join(gate, `ready-${tag}`)));
    await eventually(() => ready() || children.some((c) => c.exitCode !== null), 20_000, "both workers to be ready");
    writeFileSync(join(gate, "go"), "");
    const results = await run(children);

    for (const r of results) {
      expect(r.err).not.toContain("database is locked");
      expect({ code: r.code, err: r.err }).toEqual({ code: 0, err: "" });
    }
    const [a, b] = results.map((r) => JSON.parse(r.out) as WorkerReport) as [WorkerReport, WorkerReport];

    // Each migration is applied exactly once, by one process or the other: every migration takes the write lock
    // on its own (migrate.ts), so two processes starting together may share the work, each in order.
    const ids = MIGRATIONS.map((m) => m.id);
    expect([...a.applied, ...b.applied].sort()).toEqual(ids);
    for (const mine of [a.applied, b.applied]) expect(mine).toEqual(ids.filter((id) => mine.includes(id)));
    // They really started together and their insert phases overlapped.
    expect(Math.abs(a.openedAt - b.openedAt)).toBeLessThan(500);
    expect(a.openDoneAt < b.lastInsertAt && b.openDoneAt < a.lastInsertAt).toBe(true);

    const db = tmp.track(new Database(path, { readonly: true }));
    expect(db.query("SELECT usage AS tag, count(*) AS n FROM cpu_samples GROUP BY usage ORDER BY usage").all()).toEqual([
      { tag: 1, n: ROWS },
      { tag: 2, n: ROWS },
    ]);
    expect(db.query("SELECT count(*) AS n FROM cpu_samples").get()).toEqual({ n: 2 * ROWS });
    expect(db.query("SELECT id, count(*) AS n FROM schema_migrations GROUP BY id ORDER BY id").all()).toEqual(
      MIGRATIONS.map((m) => ({ id: m.id, n: 1 })),
    );
  }, 30_000);

  test("a writer holding the lock while another process switches a fresh file to WAL only delays it", async () => {
    // The losing side of the race above, made deterministic: SQLite answers SQLITE_BUSY at once (no busy
    // handler, it could deadlock) when the WAL switch needs the write lock another connection holds.
    const path = stateDbPath(tmp.path);
    writeFileSync(path, "");
    const holder = tmp.track(new Database(path));
    holder.run("BEGIN IMMEDIATE");
    const openTs = join(import.meta.dir, "../../src/db/open.ts");
    const marker = join(tmp.path, "opening");
    const script = `import { openStateDb } from ${JSON.stringify(openTs)};
      require("node:fs").writeFileSync(${JSON.stringify(marker)}, "");
      const t = Date.now();
      try {
        const s = openStateDb(${JSON.stringify(path)});
        console.log(JSON.stringify({ applied: s.applied, ms: Date.now() - t }));
        s.close();
      }
      catch (e) { console.log(JSON.stringify({ error: e.message, ms: Date.now() - t })); }`;
    const child = Bun.spawn([process.execPath, "-e", script], { stdout: "pipe", stderr: "pipe" });
    await eventually(() => existsSync(marker) || child.exitCode !== null, 20_000, "the child to start opening");
    await Bun.sleep(400); // part of the scenario: the lock stays held while the child is opening
    holder.run("ROLLBACK");
    const [result] = await run([child]);
    expect({ code: result!.code, err: result!.err }).toEqual({ code: 0, err: "" });
    const report = JSON.parse(result!.out) as { applied?: string[]; error?: string; ms: number };
    expect(report.error).toBeUndefined();
    expect(report.applied).toEqual(MIGRATIONS.map((m) => m.id));
    expect(report.ms).toBeGreaterThanOrEqual(200); // it really waited for the holder
  }, 30_000);
});
