// What the console lacks, as the inventory remembers it (db/console-memory.ts): a sync GET or the sync-check
// answered 404 is not asked again for a day, across periodic syncs, and then once; the news is one info line,
// never a warning.
import { expect, test } from "bun:test";
import { STARTUP_SYNC_DELAY_MS } from "../../../src/capabilities/inventory/inventory.ts";
import { RECHECK_MS } from "../../../src/db/console-memory.ts";
import { ManualClock } from "../../../src/platform/clock.ts";
import { FixtureHost, useInventoryHarness } from "./harness.ts";

const { tmp, setup } = useInventoryHarness();
const SIX_HOURS = RECHECK_MS / 4;

test("a 404 is asked again after a day and not before, with one info line and no warning", async () => {
  const clock = new ManualClock();
  const host = new FixtureHost(tmp(), clock.now());
  const t = await setup({ dialect: "2025", clock, env: host.env, extra: { periodicSyncMs: SIX_HOURS } });
  t.proc.missing.add("users");
  t.fake.state.commissioned = true;
  t.inventory.start(true);
  await t.tick(STARTUP_SYNC_DELAY_MS, host);
  const asked = (from: number, path: string) => t.fake.requests.slice(from).filter((r) => r.path === path).length;
  expect(asked(0, "/api/proc/users/sync/")).toBe(1);
  expect(asked(0, "/api/servers/servers/-/sync-check/")).toBe(1);

  let user = 1001;
  for (const _ of [1, 2, 3]) {
    host.passwd += `u${user}:x:${user}:${user++}::/nonexistent:/bin/sh\n`; // a change, so no hash skip hides a GET
    const from = await t.tick(SIX_HOURS, host);
    expect(asked(from, "/api/proc/users/sync/")).toBe(0);
    expect(asked(from, "/api/servers/servers/-/sync-check/")).toBe(0);
  }
  const day = await t.tick(SIX_HOURS, host);
  expect(asked(day, "/api/proc/users/sync/")).toBe(1);
  expect(asked(day, "/api/servers/servers/-/sync-check/")).toBe(1);
  expect(t.records.filter((r) => r.level === "info" && r.fields.key === "users")).toHaveLength(1);
  expect(t.records.filter((r) => r.level === "info" && /no sync-check/.test(r.message))).toHaveLength(1);
  expect(t.warnings()).toEqual([]);

  // The console gains the route: the next day's probe finds it, says so once, and the key syncs from then on.
  t.proc.missing.delete("users");
  for (const _ of [1, 2, 3]) await t.tick(SIX_HOURS, host);
  const found = await t.tick(SIX_HOURS, host);
  expect(asked(found, "/api/proc/users/sync/")).toBe(1);
  expect(t.records.filter((r) => r.message === "the console has a sync route for this key now")).toHaveLength(1);
  expect(t.proc.lists.get("users")?.length).toBeGreaterThan(0);
});
