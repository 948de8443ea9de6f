// De-duplication of command ids on a real state database: the table is the only copy (a busy hour costs
// no memory), it survives a restart, and rows older than the window are pruned.
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { DEDUP_WINDOW_MS, SeenCommandIds } from "../../src/commands/seen.ts";
import { openStateDb } from "../../src/db/open.ts";
import { useTempDirs } from "../helpers/tmp.ts";

const tempDir = useTempDirs("alpamon-seen-");

describe("SeenCommandIds on the state database", () => {
  test("second sighting refused, also after a restart; the table is the only copy; old rows pruned", () => {
    const path = join(tempDir(), "alpamon.db");
    const state = openStateDb(path);
    try {
      const t0 = Date.UTC(2026, 10, 26);
      const seen = new SeenCommandIds(state.sqlite);
      expect(seen.firstSighting("cmd-a", t0)).toBe(true);
      expect(seen.firstSighting("cmd-a", t0 + 1_000)).toBe(false);
      expect(new SeenCommandIds(state.sqlite).firstSighting("cmd-a", t0 + 2_000)).toBe(false); // a restart
      state.sqlite.run("DELETE FROM seen_commands WHERE id = 'cmd-a'");
      expect(seen.firstSighting("cmd-a", t0 + 3_000)).toBe(true); // nothing kept in memory
      expect(seen.firstSighting("cmd-b", t0 + 4_000)).toBe(true);
      expect(seen.firstSighting("cmd-c", t0 + DEDUP_WINDOW_MS + 5_000)).toBe(true); // prunes a and b
      const ids = state.sqlite.query("SELECT id FROM seen_commands ORDER BY id").all() as { id: string }[];
      expect(ids.map((r) => r.id)).toEqual(["cmd-c"]);
      expect(seen.firstSighting("cmd-b", t0 + DEDUP_WINDOW_MS + 6_000)).toBe(true); // outside the window: runs again
    } finally {
      state.close();
    }
  });
});
