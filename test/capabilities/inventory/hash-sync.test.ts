// Hash-checked sync against the fake 2026 console (upstream-2026.md §5): one sync-check per steady-state cycle,
// one changed user = sync-check + users GET + one PATCH carrying the users hash, a list the console never stored
// = one POST of every row, the lightweight commit and its staged syncs on an injected clock; and the 2025
// console (no sync-check) keeping the per-key path with packages.
import { describe, expect, test } from "bun:test";
import { ACCOUNTS_STAGE, PERIODIC_SYNC_MS, REST_STAGE, STARTUP_SYNC_DELAY_MS } from "../../../src/capabilities/inventory/inventory.ts";
import { ManualClock } from "../../../src/platform/clock.ts";
import { eventually } from "../../console/fake-console-waits.ts";
import { syncStoreOf } from "../../console/fake-console-sync.ts";
import type { RecordedRequest } from "../../console/fake-console.ts";
import { FixtureHost, useInventoryHarness, WAIT_MS } from "./harness.ts";

const { tmp, setup } = useInventoryHarness();

const SYNC_CHECK = "/api/servers/servers/-/sync-check/";
const hashesOf = (r: RecordedRequest) => (r.json as { hashes: Record<string, string> }).hashes;
const line = (r: RecordedRequest) => `${r.method} ${r.path}`;

async function commissioned2026() {
  const clock = new ManualClock();
  const host = new FixtureHost(tmp(), clock.now());
  const t = await setup({ dialect: "2026", clock, env: host.env });
  t.fake.state.commissioned = true;
  const store = syncStoreOf(t.fake.state);
  t.inventory.start(true);
  const first = await t.tick(STARTUP_SYNC_DELAY_MS, host);
  return { t, clock, host, store, first };
}

describe("2026 console", () => {
  test("first sync: every list the console never stored is one POST of all its rows, with the category's hash", async () => {
    const { t, store, first } = await commissioned2026();
    const requests = t.fake.requests.slice(first);
    expect(line(requests[0]!)).toBe(`POST ${SYNC_CHECK}`);
    const hashes = hashesOf(requests[0]!);
    expect(Object.keys(hashes)).toEqual(["info", "os", "time", "groups", "users", "interfaces", "addresses", "disks", "partitions"]);
    for (const h of Object.values(hashes)) expect(h).toMatch(/^sha256:[0-9a-f]{64}$/);
    const userWrites = requests.filter((r) => r.path.startsWith("/api/proc/users/") && r.method !== "GET");
    expect(userWrites.map(line)).toEqual(["POST /api/proc/users/"]);
    expect((userWrites[0]!.json as { username: string }[]).map((u) => u.username)).toEqual(["root", "daemon", "alice"]);
    expect(userWrites[0]!.headers["x-sync-hash"]).toBe(hashes.users);
    expect(store.list("groups")!.map((g) => g.groupname)).toEqual(["root", "daemon", "alice"]);
    // Every write carries its category's hash; no packages and no firewall in this dialect.
    for (const w of requests.filter((r) => r.path.startsWith("/api/proc/") && r.method !== "GET"))
      expect(w.headers["x-sync-hash"]).toBe(hashes[w.path.split("/")[3]!]);
    expect(requests.some((r) => r.path.includes("packages") || r.path.includes("firewall"))).toBe(false);
    // A full sync fetches the access policy, after the round's last write (so it may come after the outbox drained).
    await eventually(
      () => t.fake.requests.slice(first).some((r) => line(r) === "GET /api/servers/servers/-/access-policy/"),
      WAIT_MS,
      "the access policy GET",
    );
  });

  test("steady state is one request per cycle (the sync-check); one changed user is sync-check + GET + one PATCH", async () => {
    const { t, host, store } = await commissioned2026();
    const quiet = await t.tick(PERIODIC_SYNC_MS, host);
    expect(t.fake.requests.slice(quiet).map(line)).toEqual([`POST ${SYNC_CHECK}`]);

    host.passwd = host.passwd.replace("alice:x:1000:1000::/home/alice:/bin/bash", "alice:x:1000:1000::/home/alice:/bin/zsh");
    const changed = await t.tick(PERIODIC_SYNC_MS, host);
    const requests = t.fake.requests.slice(changed);
    const alice = store.list("users")!.find((u) => u.username === "alice")!;
    expect(requests.map(line)).toEqual([`POST ${SYNC_CHECK}`, "GET /api/proc/users/sync/", `PATCH /api/proc/users/${alice.id}/`]);
    const usersHash = hashesOf(requests[0]!).users;
    expect(requests[2]!.headers["x-sync-hash"]).toBe(usersHash);
    expect(store.hashes.get("users")).toBe(usersHash);
    expect(alice.shell).toBe("/bin/zsh");

    const again = await t.tick(PERIODIC_SYNC_MS, host);
    expect(t.fake.requests.slice(again).map(line)).toEqual([`POST ${SYNC_CHECK}`]);
    expect(t.warnings()).toEqual([]);
  });

  test("not commissioned: a lightweight commit, then users and groups after 0-5 s, the rest after 30-60 s", async () => {
    const clock = new ManualClock();
    const host = new FixtureHost(tmp(), clock.now());
    const t = await setup({ dialect: "2026", clock, env: host.env, extra: { random: () => 0.5 } });
    t.inventory.start(false);
    await t.fake.waitUntil(() => t.fake.state.commissioned, WAIT_MS, "the committed event");
    await t.delivered();
    const [check, commit] = t.fake.requests.filter((r) => r.path !== "/api/events/events/");
    expect(Object.keys(hashesOf(check!))).toEqual(["info", "os"]);
    expect(line(commit!)).toBe("PUT /api/servers/servers/-/commit/");
    const body = commit!.json as Record<string, unknown>;
    expect(Object.keys(body).sort()).toEqual(
      ["info", "load", "os", "sshd_use_pam", "sync_hashes", "version"].concat("pam_version" in body ? ["pam_version"] : []).sort(),
    );
    expect(body.sync_hashes).toEqual(hashesOf(check!));

    // random 0.5: users and groups at 3 s, the rest at 45 s after the commit.
    await eventually(() => clock.pending > 0, WAIT_MS, "the wait for the accounts stage");
    const beforeAccounts = t.fake.requests.length;
    await clock.advance(2_999);
    expect(t.fake.requests.length).toBe(beforeAccounts);
    const accounts = await t.tick(1, host);
    const accountsCheck = t.fake.requests.slice(accounts).find((r) => r.path === SYNC_CHECK)!;
    expect(Object.keys(hashesOf(accountsCheck))).toEqual([...ACCOUNTS_STAGE]);
    const rest = await t.tick(42_000, host);
    const restCheck = t.fake.requests.slice(rest).find((r) => r.path === SYNC_CHECK)!;
    expect(Object.keys(hashesOf(restCheck))).toEqual([...REST_STAGE]);
    expect(syncStoreOf(t.fake.state).list("partitions")).toBeDefined();
  });
});

describe("2025 console (no sync-check)", () => {
  test("the sync-check is asked once; the per-key path goes on with packages, and a steady cycle sends nothing", async () => {
    const clock = new ManualClock();
    const host = new FixtureHost(tmp(), clock.now());
    const t = await setup({ dialect: "2025", clock, env: host.env });
    t.fake.state.commissioned = true;
    t.inventory.start(true);
    const first = await t.tick(STARTUP_SYNC_DELAY_MS, host);
    const requests = t.fake.requests.slice(first);
    expect(requests.filter((r) => r.path === SYNC_CHECK).map((r) => r.status)).toEqual([404]);
    expect(t.proc.lists.get("packages")!.map((p) => p.name)).toEqual(["adduser", "bash", "coreutils"]);
    const quiet = await t.tick(PERIODIC_SYNC_MS, host);
    expect(t.fake.requests.slice(quiet).map(line)).toEqual([]);
    expect(t.warnings()).toEqual([]);
    await t.inventory.commit();
    await t.delivered();
    expect((t.fake.state.lastCommit as { packages: unknown[] }).packages).toHaveLength(3);
  });
});
