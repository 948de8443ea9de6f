// Inventory against the fake console with a real ConsoleHttp and the durable Outbox: commit body and the
// 2024 `load` fallback, per-key sync with exactly the needed writes, hash-skipped steady state, 404 and
// malformed answers survived, the commands and start-up. Real users are created and always removed. Waits are
// bounded waits on a condition; the loop's and the follow-up's delays run on a ManualClock (harness.ts).
import { describe, expect, test } from "bun:test";
import { networkInterfaces } from "node:os";
import { inventoryCommands } from "../../../src/capabilities/inventory/commands.ts";
import { runnable } from "../../helpers/commands.ts";
import { FOLLOW_UP_MS, STARTUP_SYNC_DELAY_MS } from "../../../src/capabilities/inventory/inventory.ts";
import { ManualClock } from "../../../src/platform/clock.ts";
import { eventually } from "../../console/fake-console-waits.ts";
import { FixtureHost, WAIT_MS, accountsOnly, dpkgInstalledCount, useInventoryHarness } from "./harness.ts";

const { tmp, setup, run, tempUser } = useInventoryHarness();

type Row = Record<string, unknown>;
/** The commit body, as far as these tests look into it. */
interface CommitBody {
  version: unknown;
  load: unknown;
  info: Row;
  os: Row;
  time: Row;
  users: Row[];
  groups: Row[];
  interfaces: Row[];
  addresses: Row[];
  disks: unknown;
  partitions: unknown;
  packages: unknown[];
}

describe("commit", () => {
  test("PUT with every key and the right types, then the committed event", async () => {
    const t = await setup();
    await t.inventory.commit();
    await t.delivered();
    const puts = t.fake.requests.filter((r) => r.method === "PUT" && r.path === "/api/servers/servers/-/commit/");
    expect(puts.map((r) => r.status)).toEqual([200]);
    const body = puts[0]!.json as CommitBody;
    expect(Object.keys(body).sort()).toEqual([
      "addresses",
      "disks",
      "groups",
      "info",
      "interfaces",
      "load",
      "os",
      "packages",
      "partitions",
      "time",
      "users",
      "version",
    ]);
    expect(body.version).toBe("0.1.0-test");
    expect(body.load).toBe(0.25);
    expect(typeof body.info.uuid).toBe("string");
    expect(body.info.cpu_logical_cores).toBeGreaterThan(0);
    expect(body.info.physical_memory).toBeGreaterThan(0);
    expect(body.os).toMatchObject({ name: "debian", platform: "debian", platform_like: "debian", major: 12 });
    expect(typeof body.time.datetime).toBe("string");
    expect(Number.isInteger(body.time.uptime)).toBe(true);
    expect(body.users.find((u) => u.username === "root")).toMatchObject({ uid: 0, gid: 0, directory: "/root" });
    expect(body.groups.find((g) => g.groupname === "root")).toEqual({ gid: 0, groupname: "root" });
    // Addresses are exactly the host's IPv4 addresses on the reported interfaces (compared with the kernel's own
    // list, so an agent that dropped every address would not pass on a host that has some).
    const interfaces = new Set(body.interfaces.map((i) => i.name));
    const hostIpv4 = Object.entries(networkInterfaces()).flatMap(([label, infos]) =>
      (infos ?? [])
        .filter((i) => i.family === "IPv4" && interfaces.has(label.split(":")[0]!))
        .map((i) => `${label.split(":")[0]} ${i.address}`),
    );
    expect(body.addresses.map((a) => `${a.interface_name} ${a.address}`).sort()).toEqual(hostIpv4.sort());
    expect(Array.isArray(body.disks) && Array.isArray(body.partitions)).toBe(true);
    expect(body.packages.length).toBe(await dpkgInstalledCount());
    const event = t.fake.requests.find(
      (r) => r.path === "/api/events/events/" && (r.json as { record?: unknown } | undefined)?.record === "committed",
    );
    expect(event?.at).toBeGreaterThanOrEqual(puts[0]!.at);
    expect(t.fake.state.commissioned).toBe(true);
  });

  test("2024 console: a 400 on `load` resends it as {period, average}, and later commits go straight to it", async () => {
    const t = await setup({ dialect: "2024" });
    await t.inventory.commit();
    await t.delivered();
    const puts = () => t.fake.requests.filter((r) => r.method === "PUT");
    expect(puts().map((r) => [r.status, (r.json as { load?: unknown }).load])).toEqual([
      [400, 0.25],
      [200, { period: "1m", average: 0.25 }],
    ]);
    await t.inventory.commit();
    await t.delivered();
    expect(
      puts()
        .slice(2)
        .map((r) => [r.status, (r.json as { load?: unknown }).load]),
    ).toEqual([[200, { period: "1m", average: 0.25 }]]);
  });
});

describe("sync", () => {
  test("a changed user gives exactly one PATCH; an unchanged sync gives no writes and no reads", async () => {
    const name = await tempUser();
    const t = await setup({ env: { runProcess: accountsOnly(new Set(["root", name])) } });
    const first = await t.inventory.sync();
    await t.delivered();
    expect(first.skipped).toEqual(["info", "os", "time"]); // the console has no single rows yet (404)
    const users = t.proc.lists.get("users")!;
    expect(users.find((u) => u.username === name)).toMatchObject({ shell: "/bin/sh" });
    expect(t.proc.lists.get("packages")!.length).toBe(await dpkgInstalledCount());

    await run(["usermod", "-s", "/bin/bash", name]);
    const before = t.fake.requests.length;
    const second = await t.inventory.sync(["users"]);
    await t.delivered();
    const id = users.find((u) => u.username === name)!.id;
    expect(t.proc.writes(before).map((r) => [r.method, r.path])).toEqual([["PATCH", `/api/proc/users/${id}/`]]);
    expect(second).toMatchObject({ synced: ["users"], writes: 1 });
    expect(users.find((u) => u.username === name)).toMatchObject({ shell: "/bin/bash" });

    const quiet = t.fake.requests.length;
    const third = await t.inventory.sync();
    await t.delivered();
    expect(t.proc.writes(quiet)).toEqual([]);
    expect(third.writes).toBe(0);
    // Nothing at all: unchanged keys are skipped by hash, and what the console answered 404 for (the sync-check,
    // the single rows it has none of) is not asked again within the day.
    expect(t.fake.requests.slice(quiet).map((r) => r.path)).toEqual([]);
  });

  test("single rows: PATCH only on a difference; 404 and malformed answers skip the key, the rest goes on", async () => {
    const t = await setup();
    const commitBody = async () => {
      await t.inventory.commit();
      await t.delivered();
      return t.fake.state.lastCommit as CommitBody;
    };
    const body = await commitBody();
    t.proc.seed("info", body.info);
    t.proc.seed("os", { ...body.os, version: "11.0", major: 11 });
    t.proc.missing.add("time");
    t.proc.garbage.set("groups", "<html>oops</html>");
    const before = t.fake.requests.length;
    const summary = await t.inventory.sync();
    await t.delivered();
    expect(summary.skipped.sort()).toEqual(["groups", "time"]);
    expect(summary.synced).toContain("os");
    const osId = t.proc.single.get("os")!.id;
    expect(
      t.proc
        .writes(before)
        .filter((r) => r.path.startsWith("/api/proc/os/") || r.path.startsWith("/api/proc/info/"))
        .map((r) => [r.method, r.path]),
    ).toEqual([["PATCH", `/api/proc/os/${osId}/`]]);
    // The 404 is news worth one info line, not a warning; the garbage is a warning.
    expect(t.warnings().map((w) => [w.message, w.fields.key])).toEqual([
      ["the console's answer for this key is malformed; skipped it", "groups"],
    ]);
    expect(t.records.filter((r) => r.level === "info" && r.fields.key === "time").map((r) => r.message)).toEqual([
      "the console has no sync route for this key; not asking again for a day",
    ]);
  });

  test("a write the console refuses makes the key compare again on the next sync", async () => {
    const t = await setup();
    await t.inventory.sync(["users"]);
    await t.delivered();
    const name = await tempUser();
    const refuse = t.fake.fault({ method: "POST", path: "/api/proc/users/" }, { status: 400, times: 1 });
    await t.inventory.sync(["users"]);
    await t.delivered();
    refuse.clear();
    const names = () => t.proc.lists.get("users")!.map((u) => u.username);
    expect(t.fake.requests.filter((r) => r.method === "POST" && r.path === "/api/proc/users/").map((r) => r.status)).toEqual([201, 400]);
    expect(names()).toContain("root");
    expect(names()).not.toContain(name);
    await t.inventory.sync(["users"]);
    await t.delivered();
    expect(names()).toContain(name);
  });
});

describe("firewall hook", () => {
  test("chains are posted after a commit and on a sync of `firewall`; none or a failure posts nothing", async () => {
    let chains: unknown[] = [{ name: "INPUT", rules: [] }];
    let broken = false;
    const t = await setup({
      extra: {
        firewallChains: async () => {
          if (broken) throw new Error("nft missing");
          return chains;
        },
      },
    });
    t.fake.route("POST", "/api/firewall/agent/sync/", () => ({ status: 201, body: {} }));
    const posts = () => t.fake.requests.filter((r) => r.path === "/api/firewall/agent/sync/");
    await t.inventory.commit();
    await t.delivered();
    expect(posts().map((r) => r.json)).toEqual([{ chains }]);
    await t.inventory.sync(["firewall"]);
    await t.delivered();
    expect(posts()).toHaveLength(2);
    chains = [];
    await t.inventory.sync(["firewall"]);
    broken = true;
    await t.inventory.sync(["firewall"]);
    await t.delivered();
    expect(posts()).toHaveLength(2);
    expect(t.warnings().map((w) => w.message)).toEqual(["could not collect firewall rules; firewall sync skipped"]);
  });
});

describe("commands and start", () => {
  test("commit and sync commands; data.keys is validated", async () => {
    const t = await setup();
    const { commit, sync } = runnable(inventoryCommands(t.inventory));
    const ctx = (data: Record<string, unknown>) => ({
      id: "c1",
      args: [],
      line: "sync",
      data,
      user: null,
      group: null,
      env: null,
      signal: new AbortController().signal,
      log: undefined as never,
    });
    expect(await commit!.run(ctx({}))).toEqual({ exitCode: 0, result: "Committed system information." });
    await t.delivered(); // until the commit is delivered, a sync leaves every key alone
    const before = t.fake.requests.length;
    expect(await sync!.run(ctx({ keys: ["groups"] }))).toEqual({ exitCode: 0, result: "Synchronized system information." });
    expect(
      t.fake.requests
        .slice(before)
        .filter((r) => r.method === "GET")
        .map((r) => r.path),
    ).toEqual(["/api/proc/groups/sync/"]);
    expect(await sync!.run(ctx({ keys: "users" }))).toEqual({ exitCode: 1, result: "Invalid data: keys: must be a list of key names" });
  });

  test("start: not commissioned commits at once; commissioned syncs after the delay", async () => {
    const a = await setup({ clock: new ManualClock() });
    a.inventory.start(false);
    await a.fake.waitForRequest((r) => r.path === "/api/servers/servers/-/commit/", WAIT_MS);
    const clock = new ManualClock();
    const b = await setup({ clock });
    b.inventory.start(true);
    await eventually(() => clock.pending === 1, WAIT_MS, "the loop to park in the start-up delay");
    expect(b.fake.requests.filter((r) => r.path.startsWith("/api/proc/"))).toEqual([]);
    await clock.advance(STARTUP_SYNC_DELAY_MS);
    await b.fake.waitForRequest((r) => r.path === "/api/proc/users/sync/", WAIT_MS);
  });

  test("the periodic sync skips unchanged keys and does not re-ask keys the console answered 404", async () => {
    const clock = new ManualClock();
    const host = new FixtureHost(tmp(), clock.now());
    const t = await setup({ clock, env: host.env, extra: { periodicSyncMs: 60_000 } });
    t.proc.missing.add("packages");
    t.inventory.start(true);
    const first = await t.tick(STARTUP_SYNC_DELAY_MS, host);
    expect(
      t.fake.requests
        .slice(first)
        .filter((r) => r.path === "/api/proc/packages/sync/")
        .map((r) => r.status),
    ).toEqual([404]);
    expect(t.proc.lists.get("users")!.map((u) => u.username)).toEqual(["root", "daemon", "alice"]);
    const from = await t.tick(60_000, host);
    expect(t.rounds()).toHaveLength(2);
    expect(t.fake.requests.slice(from).map((r) => `${r.method} ${r.path}`)).toEqual([]);
  });

  test("a key whose writes are still in the outbox is not diffed again (no double POST); a follow-up syncs it", async () => {
    const clock = new ManualClock();
    const host = new FixtureHost(tmp(), clock.now());
    const t = await setup({ clock, env: host.env });
    await t.inventory.sync(["users"]);
    await t.delivered();
    const users = t.proc.lists.get("users")!;
    const bob = () => users.filter((u) => u.username === "bob");
    const hold = t.hold("POST", "/api/proc/users/");
    host.passwd += "bob:x:1001:1001::/home/bob:/bin/sh\n";
    await t.inventory.sync(["users"]);
    await eventually(() => hold.held() === 1, WAIT_MS, "bob's POST to reach the console (held there, undelivered)");
    host.passwd = host.passwd.replace("/home/bob:/bin/sh", "/home/bob:/bin/bash");
    const quiet = t.fake.requests.length;
    const second = await t.inventory.sync(["users"]);
    expect(second).toMatchObject({ synced: [], skipped: ["users"], writes: 0 });
    expect(t.fake.requests.slice(quiet).map((r) => `${r.method} ${r.path}`)).toEqual([]); // not even read
    expect(clock.pending).toBe(1); // the follow-up, on the injected clock

    hold.release();
    await t.delivered();
    expect(bob().map((u) => u.shell)).toEqual(["/bin/sh"]);
    await clock.advance(FOLLOW_UP_MS);
    await t.fake.waitUntil(() => bob().find((u) => u.shell === "/bin/bash"), WAIT_MS, "the follow-up PATCH");
    await t.delivered();
    expect(bob()).toHaveLength(1);
    expect(t.proc.writes(quiet).map((r) => `${r.method} ${r.path}`)).toEqual([
      "POST /api/proc/users/",
      `PATCH /api/proc/users/${bob()[0]!.id}/`,
    ]);
  });

  test("users and groups sync requests coalesce while one is waiting", async () => {
    const clock = new ManualClock();
    const host = new FixtureHost(tmp(), clock.now());
    const t = await setup({ clock, env: host.env });
    const hold = t.hold("GET", "/api/proc/packages/sync/");
    const blocker = t.inventory.sync(["packages"]); // keeps the queue busy until the console answers
    await eventually(() => hold.held() === 1, WAIT_MS, "the blocking sync's GET");
    t.inventory.requestUsersAndGroupsSync();
    t.inventory.requestUsersAndGroupsSync();
    t.inventory.requestUsersAndGroupsSync();
    hold.release();
    await blocker;
    await t.inventory.sync(["os"]); // queued behind every requested sync: when it is done, they all ran
    const accountRounds = t.rounds().filter((r) => [...r.synced, ...r.unchanged, ...r.skipped].includes("users"));
    expect(accountRounds.map((r) => r.synced.filter((k) => k !== "server"))).toEqual([["groups", "users"]]);
    expect(t.fake.requests.filter((r) => r.path === "/api/proc/users/sync/")).toHaveLength(1);
  });
});
