// Inventory against the fake console with a real ConsoleHttp and the durable Outbox: commit body and the
// 2024 `load` fallback, per-key sync with exactly the needed writes, hash-skipped steady state, 404 and
// malformed answers survived, the commands and start-up. Real users are created and always removed.
import { afterEach, describe, expect, test } from "bun:test";
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ConsoleHttp } from "../../src/console/http.ts";
import { Outbox } from "../../src/console/outbox.ts";
import { openStateDb } from "../../src/db/open.ts";
import { runProcess } from "../../src/exec/run.ts";
import { inventoryCommands } from "../../src/inventory/commands.ts";
import { Inventory, type InventoryOptions } from "../../src/inventory/inventory.ts";
import { LogHub, type LogRecord } from "../../src/log/logger.ts";
import { ManualClock, systemClock, type Clock } from "../../src/platform/clock.ts";
import { FakeConsole, type Dialect } from "../console/fake-console.ts";
import { useTempDirs } from "../helpers/tmp.ts";
import { ProcConsole } from "./proc-console.ts";

const tmp = useTempDirs("alpamon-inventory-");
let cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.reverse()) await c();
  cleanups = [];
});

/** /proc with a fixed loadavg, so the `server` key's hash does not follow the test machine's load. */
function procOverlay(): string {
  const dir = join(tmp(), "proc");
  mkdirSync(dir);
  for (const name of ["cpuinfo", "meminfo", "uptime", "1", "self", "sys", "mounts"]) symlinkSync(`/proc/${name}`, join(dir, name));
  writeFileSync(join(dir, "loadavg"), "0.25 0.20 0.10 1/100 1234\n");
  return dir;
}

async function setup(options: { dialect?: Dialect; clock?: Clock; extra?: Partial<InventoryOptions> } = {}) {
  const fake = await FakeConsole.start({ dialect: options.dialect ?? "2025" });
  cleanups.push(() => fake.stop());
  const state = openStateDb(join(tmp(), "alpamon.db"));
  cleanups.push(() => state.close());
  const records: LogRecord[] = [];
  const hub = new LogHub({ write: () => {}, close: () => {} }, "debug");
  hub.listen((r) => records.push(r));
  const log = hub.logger("inventory");
  const http = new ConsoleHttp({ serverUrl: fake.url, id: fake.id, key: fake.key, tls: { rejectUnauthorized: true }, userAgent: "alpamon/test", log });
  let inventory: Inventory | undefined;
  const outbox = new Outbox({ state, sender: http, log: hub.logger("outbox"), clock: systemClock, onSettled: (item) => inventory?.onOutboxSettled(item) });
  outbox.start();
  cleanups.push(() => outbox.stop());
  inventory = new Inventory({
    http, outbox, state, log, clock: options.clock ?? systemClock, version: "0.1.0-test", env: { procRoot: procOverlay() }, ...options.extra,
  });
  cleanups.push(() => inventory!.stop());
  const proc = new ProcConsole(fake);
  const delivered = async () => expect(await outbox.drain(10_000)).toBe(true);
  const warnings = () => records.filter((r) => r.level === "warn");
  return { fake, state, outbox, inventory, proc, delivered, warnings };
}

async function run(argv: string[]): Promise<void> {
  const r = await runProcess({ argv, env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" }, timeoutMs: 30_000 });
  if (r.exitCode !== 0) throw new Error(`${argv.join(" ")}: ${r.output}`);
}

/** A real local user, removed after the test even when it fails. */
async function tempUser(): Promise<string> {
  const name = `alpinv${Math.floor(Math.random() * 1e6)}`;
  await run(["useradd", "-M", "-d", "/nonexistent", "-s", "/bin/sh", name]);
  cleanups.push(() => runProcess({ argv: ["userdel", name], env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin" }, timeoutMs: 30_000 }));
  return name;
}

async function dpkgInstalledCount(): Promise<number> {
  const r = await runProcess({ argv: ["dpkg-query", "-W", "-f=${db:Status-Abbrev}\\n"], env: { PATH: "/usr/bin:/bin" }, timeoutMs: 30_000 });
  return r.output.split("\n").filter((l) => l.startsWith("ii")).length;
}

describe("commit", () => {
  test("PUT with every key and the right types, then the committed event", async () => {
    const t = await setup();
    await t.inventory.commit();
    await t.delivered();
    const puts = t.fake.requests.filter((r) => r.method === "PUT" && r.path === "/api/servers/servers/-/commit/");
    expect(puts.map((r) => r.status)).toEqual([200]);
    const body = puts[0]!.json as Record<string, any>;
    expect(Object.keys(body).sort()).toEqual(["addresses", "disks", "groups", "info", "interfaces", "load", "os", "packages", "partitions", "time", "users", "version"]);
    expect(body.version).toBe("0.1.0-test");
    expect(body.load).toBe(0.25);
    expect(typeof body.info.uuid).toBe("string");
    expect(body.info.cpu_logical_cores).toBeGreaterThan(0);
    expect(body.info.physical_memory).toBeGreaterThan(0);
    expect(body.os).toMatchObject({ name: "debian", platform: "debian", platform_like: "debian", major: 12 });
    expect(typeof body.time.datetime).toBe("string");
    expect(Number.isInteger(body.time.uptime)).toBe(true);
    expect(body.users.find((u: any) => u.username === "root")).toMatchObject({ uid: 0, gid: 0, directory: "/root" });
    expect(body.groups.find((g: any) => g.groupname === "root")).toEqual({ gid: 0, groupname: "root" });
    const interfaces = new Set(body.interfaces.map((i: any) => i.name));
    for (const a of body.addresses) expect(interfaces.has(a.interface_name)).toBe(true);
    expect(Array.isArray(body.disks) && Array.isArray(body.partitions)).toBe(true);
    expect(body.packages.length).toBe(await dpkgInstalledCount());
    const event = t.fake.requests.find((r) => r.path === "/api/events/events/" && (r.json as any)?.record === "committed");
    expect(event?.at).toBeGreaterThanOrEqual(puts[0]!.at);
    expect(t.fake.state.commissioned).toBe(true);
  });

  test("2024 console: a 400 on `load` resends it as {period, average}, and later commits go straight to it", async () => {
    const t = await setup({ dialect: "2024" });
    await t.inventory.commit();
    await t.delivered();
    const puts = () => t.fake.requests.filter((r) => r.method === "PUT");
    expect(puts().map((r) => [r.status, (r.json as any).load])).toEqual([[400, 0.25], [200, { period: "1m", average: 0.25 }]]);
    await t.inventory.commit();
    await t.delivered();
    expect(puts().slice(2).map((r) => [r.status, (r.json as any).load])).toEqual([[200, { period: "1m", average: 0.25 }]]);
  });
});

describe("sync", () => {
  test("a changed user gives exactly one PATCH; an unchanged sync gives no writes and no reads", async () => {
    const t = await setup();
    const name = await tempUser();
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
    // Only the single-row keys the console lacks are asked again; everything else was skipped by hash.
    expect(t.fake.requests.slice(quiet).map((r) => r.path).sort()).toEqual(["/api/proc/info/-/sync/", "/api/proc/os/-/sync/", "/api/proc/time/-/sync/"]);
  });

  test("single rows: PATCH only on a difference; 404 and malformed answers skip the key, the rest goes on", async () => {
    const t = await setup();
    const commitBody = async () => {
      await t.inventory.commit();
      await t.delivered();
      return t.fake.state.lastCommit as Record<string, any>;
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
    expect(t.proc.writes(before).filter((r) => r.path.startsWith("/api/proc/os/") || r.path.startsWith("/api/proc/info/")).map((r) => [r.method, r.path])).toEqual([
      ["PATCH", `/api/proc/os/${osId}/`],
    ]);
    expect(t.warnings().map((w) => [w.message, w.fields.key])).toEqual([
      ["console answered 404 for this key; skipped it", "time"],
      ["the console's answer for this key is malformed; skipped it", "groups"],
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
    expect(t.proc.lists.get("users")!.some((u) => u.username === name)).toBe(false);
    await t.inventory.sync(["users"]);
    await t.delivered();
    expect(t.proc.lists.get("users")!.some((u) => u.username === name)).toBe(true);
  });
});

describe("firewall hook", () => {
  test("chains are posted after a commit and on a sync of `firewall`; none or a failure posts nothing", async () => {
    let chains: unknown[] = [{ name: "INPUT", rules: [] }];
    let broken = false;
    const t = await setup({ extra: { firewallChains: async () => { if (broken) throw new Error("nft missing"); return chains; } } });
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
    const [commit, sync] = inventoryCommands(t.inventory);
    const ctx = (data: Record<string, unknown>) => ({ id: "c1", args: [], line: "sync", data, user: null, group: null, env: null, signal: new AbortController().signal, log: undefined as never });
    expect(await commit!.run(ctx({}))).toEqual({ exitCode: 0, result: "Committed system information." });
    await t.delivered(); // until the commit is delivered, a sync leaves every key alone
    const before = t.fake.requests.length;
    expect(await sync!.run(ctx({ keys: ["groups"] }))).toEqual({ exitCode: 0, result: "Synchronized system information." });
    expect(t.fake.requests.slice(before).filter((r) => r.method === "GET").map((r) => r.path)).toEqual(["/api/proc/groups/sync/"]);
    expect(await sync!.run(ctx({ keys: "users" }))).toEqual({ exitCode: 1, result: "Invalid data: keys: must be a list of key names" });
  });

  test("start: not commissioned commits at once; commissioned syncs after the delay", async () => {
    const clock = new ManualClock(Date.now());
    const a = await setup({ clock });
    a.inventory.start(false);
    await a.fake.waitForRequest((r) => r.path === "/api/servers/servers/-/commit/", 10_000);
    const b = await setup({ clock });
    b.inventory.start(true);
    await Bun.sleep(50);
    expect(b.fake.requests.filter((r) => r.path.startsWith("/api/proc/"))).toEqual([]);
    await clock.advance(5_000);
    await b.fake.waitForRequest((r) => r.path === "/api/proc/users/sync/", 10_000);
  });

  test("the periodic sync skips unchanged keys and does not re-ask keys the console answered 404", async () => {
    const clock = new ManualClock(Date.now());
    const t = await setup({ clock, extra: { periodicSyncMs: 60_000 } });
    t.proc.missing.add("packages");
    t.inventory.start(true);
    await clock.advance(5_000);
    await t.fake.waitForRequest((r) => r.path === "/api/proc/partitions/sync/", 10_000);
    await t.delivered();
    await Bun.sleep(100);
    const before = t.fake.requests.length;
    const pending = clock.pending;
    await clock.advance(60_000);
    // Wait for the periodic round to finish: the loop parks in its next sleep.
    for (let i = 0; i < 200 && clock.pending < pending; i++) await Bun.sleep(10);
    for (let i = 0; i < 200 && clock.pending === 0; i++) await Bun.sleep(10);
    await t.delivered();
    expect(t.fake.requests.slice(before).map((r) => `${r.method} ${r.path}`)).toEqual([]);
  });

  test("a key whose writes are still in the outbox is not diffed again (no double POST); a follow-up syncs it", async () => {
    const t = await setup({ extra: { followUpMs: 200 } });
    await t.inventory.sync(["users"]);
    await t.delivered();
    const name = await tempUser();
    t.fake.fault({ method: "POST", path: "/api/proc/users/" }, { delayMs: 400, times: 1 });
    await t.inventory.sync(["users"]); // its POST now waits in the outbox
    await run(["usermod", "-s", "/bin/bash", name]);
    const second = await t.inventory.sync(["users"]);
    expect(second.skipped).toEqual(["users"]);
    await t.fake.waitUntil(() => t.proc.lists.get("users")!.find((u) => u.username === name && u.shell === "/bin/bash"), 10_000, "the follow-up PATCH");
    await t.delivered();
    expect(t.proc.lists.get("users")!.filter((u) => u.username === name)).toHaveLength(1);
    expect(t.fake.requests.filter((r) => r.method === "POST" && r.path === "/api/proc/users/")).toHaveLength(2);
  });

  test("users and groups sync requests coalesce while one is waiting", async () => {
    const t = await setup();
    const blocker = t.inventory.commit();
    t.inventory.requestUsersAndGroupsSync();
    t.inventory.requestUsersAndGroupsSync();
    await blocker;
    await t.fake.waitForRequest((r) => r.path === "/api/proc/users/sync/", 10_000);
    await Bun.sleep(300);
    expect(t.fake.requests.filter((r) => r.path === "/api/proc/users/sync/").length).toBe(1);
  });
});
