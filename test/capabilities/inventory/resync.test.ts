// What the hourly sync and the daily full re-sync must put right on the console, driven through the running
// inventory (start(true), its own loop) over a ManualClock: drift made behind the agent's back is corrected by
// the full re-sync and not before; a list field that grows or shrinks by one element at its end is synced; a
// reboot (a new boot time, read from /proc/uptime against the clock) reaches the console at the next sync.
import { describe, expect, test } from "bun:test";
import { FULL_RESYNC_MS, PERIODIC_SYNC_MS, STARTUP_SYNC_DELAY_MS } from "../../../src/capabilities/inventory/inventory.ts";
import { ManualClock } from "../../../src/platform/clock.ts";
import { FixtureHost, useInventoryHarness } from "./harness.ts";

const { tmp, setup } = useInventoryHarness();

async function started() {
  const clock = new ManualClock(Date.UTC(2026, 2, 1, 9, 0, 0));
  const host = new FixtureHost(tmp(), clock.now());
  const t = await setup({ clock, env: host.env });
  t.proc.seed("time", { datetime: "", timezone: "", uptime: 0, boot_time: 0 });
  t.inventory.start(true);
  await t.tick(STARTUP_SYNC_DELAY_MS, host);
  return { ...t, clock, host };
}

const packageRows = (rows: Record<string, unknown>[] | undefined) => (rows ?? []).map((p) => `${p.name} ${p.version} ${p.arch}`).sort();

describe("periodic full re-sync", () => {
  test("console-side drift is left alone by the hourly syncs and corrected by the daily full re-sync", async () => {
    const t = await started();
    const expected = t.host.packages.map((p) => `${p.name} ${p.version} ${p.arch}`).sort();
    expect(packageRows(t.proc.lists.get("packages"))).toEqual(expected);
    expect(t.proc.lists.get("users")!.map((u) => u.username)).toEqual(["root", "daemon", "alice"]);

    // Behind the agent's back: a package row lost, one with a wrong version, one the host never had; a user lost.
    const packages = t.proc.lists.get("packages")!;
    packages.splice(0, 1);
    packages[0]!.version = "0.0-drifted";
    packages.push({ id: 9_001, name: "ghost", version: "1.0", source: "", arch: "all" });
    const users = t.proc.lists.get("users")!;
    users.splice(
      users.findIndex((u) => u.username === "alice"),
      1,
    );
    const drifted = packageRows(packages);

    // Nothing changed on the host, so each hourly round costs no request at all and the drift stays.
    const hours = Math.round(FULL_RESYNC_MS / PERIODIC_SYNC_MS);
    for (let hour = 1; hour < hours; hour++) {
      const from = await t.tick(PERIODIC_SYNC_MS, t.host);
      expect(t.fake.requests.slice(from).map((r) => `${r.method} ${r.path}`)).toEqual([]);
    }
    expect(t.rounds()).toHaveLength(hours); // the start-up sync and every hourly one ran
    expect(packageRows(t.proc.lists.get("packages"))).toEqual(drifted);

    // A day after the last comparison, every key is compared with the console in full again.
    const from = await t.tick(PERIODIC_SYNC_MS, t.host);
    expect(t.clock.now() - Date.UTC(2026, 2, 1, 9, 0, 0)).toBe(STARTUP_SYNC_DELAY_MS + FULL_RESYNC_MS);
    expect(packageRows(t.proc.lists.get("packages"))).toEqual(expected);
    expect(
      t.proc.lists
        .get("users")!
        .map((u) => u.username)
        .sort(),
    ).toEqual(["alice", "daemon", "root"]);
    expect(
      t.fake.requests
        .slice(from)
        .filter((r) => r.method === "GET")
        .map((r) => r.path),
    ).toContain("/api/proc/packages/sync/");
  });
});

describe("hourly sync of changes", () => {
  test("a list that grows or shrinks by one element at its end is synced (mount points, packages)", async () => {
    const t = await started();
    const partition = () => t.proc.lists.get("partitions")!.filter((p) => p.name === "/dev/vdy1");
    expect(partition().map((p) => p.mount_points)).toEqual([["/data"]]);
    const id = partition()[0]!.id;

    t.host.mounts.push({ device: "/dev/vdy1", mountPoint: "/srv" });
    let from = await t.tick(PERIODIC_SYNC_MS, t.host);
    expect(partition().map((p) => p.mount_points)).toEqual([["/data", "/srv"]]);
    expect(t.proc.writes(from).map((r) => `${r.method} ${r.path}`)).toEqual([`PATCH /api/proc/partitions/${id}/`]);

    t.host.mounts.pop();
    from = await t.tick(PERIODIC_SYNC_MS, t.host);
    expect(partition().map((p) => p.mount_points)).toEqual([["/data"]]);
    expect(t.proc.writes(from).map((r) => `${r.method} ${r.path}`)).toEqual([`PATCH /api/proc/partitions/${id}/`]);

    t.host.packages.push({ name: "zstd", version: "1.5.4+dfsg2-5", arch: "amd64" });
    from = await t.tick(PERIODIC_SYNC_MS, t.host);
    expect(packageRows(t.proc.lists.get("packages")).at(-1)).toBe("zstd 1.5.4+dfsg2-5 amd64");
    expect(t.proc.writes(from).map((r) => `${r.method} ${r.path}`)).toEqual(["POST /api/proc/packages/"]);

    t.host.packages.pop();
    from = await t.tick(PERIODIC_SYNC_MS, t.host);
    expect(packageRows(t.proc.lists.get("packages"))).toEqual(t.host.packages.map((p) => `${p.name} ${p.version} ${p.arch}`).sort());
    expect(t.proc.writes(from).map((r) => r.method)).toEqual(["DELETE"]);
  });

  test("a reboot (a new boot time) is sent to the console at the next hourly sync", async () => {
    const t = await started();
    const time = () => t.proc.single.get("time")!;
    const firstBoot = Math.round(t.host.bootSeconds);
    expect(time()).toMatchObject({ boot_time: firstBoot, uptime: 5 * 3600 + STARTUP_SYNC_DELAY_MS / 1000 });

    // No reboot: the time key is not written again (its datetime and uptime alone do not count).
    let from = await t.tick(PERIODIC_SYNC_MS, t.host);
    expect(t.proc.writes(from)).toEqual([]);
    expect(time().boot_time).toBe(firstBoot);

    // The host reboots 20 minutes before the next sync: uptime restarts from there.
    t.host.bootSeconds = (t.clock.now() + PERIODIC_SYNC_MS) / 1000 - 20 * 60;
    from = await t.tick(PERIODIC_SYNC_MS, t.host);
    const id = time().id;
    expect(t.proc.writes(from).map((r) => `${r.method} ${r.path}`)).toEqual([`PATCH /api/proc/time/${id}/`]);
    expect(time()).toMatchObject({ boot_time: Math.round(t.host.bootSeconds), uptime: 20 * 60 });
    expect(time().boot_time).not.toBe(firstBoot);
  });
});
