// The user-work cgroup's pure parts on captured text (this machine's hybrid layout, a systemd host with
// cgroup v2, a container with a cgroup namespace), the limit arithmetic, and the v1 and v2 setup sequences
// on a directory tree standing in for cgroupfs (what is written where; the kernel's own rules are
// exercised for real by test/hardening/cgroup.test.ts).
import { describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  agentReserve,
  budgetAbove,
  locatePidsHierarchies,
  parseMountinfo,
  parseProcCgroup,
  parsePidsMax,
  releaseDelegatedCgroup,
  setupV1,
  setupV2,
  tightestLimit,
  workLimit,
} from "../../src/exec/cgroup.ts";
import { useTempDirs } from "../helpers/tmp.ts";

const tempDir = useTempDirs("alpamon-cgroup-unit-");

/** Debian 12 in a VM with the hybrid layout: pids on v1, an empty unified hierarchy. */
const HYBRID_CGROUP = `9:name=systemd:/
8:pids:/
7:blkio:/
4:memory:/process_api/95fa81360c9cd01d9b0d82aef22445ee
1:cpu:/
0::/
`;
const HYBRID_MOUNTINFO = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`;

/** Ubuntu 24.04 under systemd: unified only, the agent in its service's cgroup. */
const V2_CGROUP = "0::/system.slice/alpamon.service\n";
const V2_MOUNTINFO = `22 1 252:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw
35 24 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`;

/** A container with a cgroup namespace whose mount shows only its part of the tree. */
const NS_MOUNTINFO = "610 600 0:30 /docker/abc /sys/fs/cgroup ro,nosuid - cgroup2 cgroup2 rw\n";

describe("parsers", () => {
  test("/proc/self/cgroup: v1 controller lists and the v2 line", () => {
    const lines = parseProcCgroup(HYBRID_CGROUP);
    expect(lines).toContainEqual({ id: 8, controllers: ["pids"], path: "/" });
    expect(lines).toContainEqual({ id: 0, controllers: [], path: "/" });
    expect(parseProcCgroup("2:cpu,cpuacct:/a:b\n")).toEqual([{ id: 2, controllers: ["cpu", "cpuacct"], path: "/a:b" }]);
    expect(parseProcCgroup("garbage\n\n")).toEqual([]);
  });

  test("mountinfo: optional fields, file system type, super options, escaped paths", () => {
    const [hybridPids] = parseMountinfo(HYBRID_MOUNTINFO).filter((m) => m.superOptions.includes("pids"));
    expect(hybridPids).toEqual({ root: "/", mountPoint: "/sys/fs/cgroup/pids", fsType: "cgroup", superOptions: ["rw", "pids"] });
    const [, v2] = parseMountinfo(V2_MOUNTINFO);
    expect(v2).toMatchObject({ mountPoint: "/sys/fs/cgroup", fsType: "cgroup2" });
    const escaped = parseMountinfo("50 1 0:40 / /mnt/my\\040cgroups rw - cgroup2 none rw\n");
    expect(escaped[0]!.mountPoint).toBe("/mnt/my cgroups");
  });

  test("locating the agent's pids hierarchy: v1 first, v2 next, namespaced mounts, foreign mounts", () => {
    expect(locatePidsHierarchies(parseProcCgroup(HYBRID_CGROUP), parseMountinfo(HYBRID_MOUNTINFO))).toEqual([
      { version: 1, mountPoint: "/sys/fs/cgroup/pids", dir: "/sys/fs/cgroup/pids" },
      { version: 2, mountPoint: "/sys/fs/cgroup/unified", dir: "/sys/fs/cgroup/unified" },
    ]);
    expect(locatePidsHierarchies(parseProcCgroup(V2_CGROUP), parseMountinfo(V2_MOUNTINFO))).toEqual([
      { version: 2, mountPoint: "/sys/fs/cgroup", dir: "/sys/fs/cgroup/system.slice/alpamon.service" },
    ]);
    const ns = parseMountinfo(NS_MOUNTINFO);
    expect(locatePidsHierarchies(parseProcCgroup("0::/docker/abc/app\n"), ns)).toEqual([
      { version: 2, mountPoint: "/sys/fs/cgroup", dir: "/sys/fs/cgroup/app" },
    ]);
    expect(locatePidsHierarchies(parseProcCgroup("0::/docker/abc\n"), ns)[0]!.dir).toBe("/sys/fs/cgroup");
    // The process is outside what the mount shows (or no cgroup file system at all): nothing usable.
    expect(locatePidsHierarchies(parseProcCgroup("0::/other\n"), ns)).toEqual([]);
    expect(locatePidsHierarchies(parseProcCgroup(V2_CGROUP), [])).toEqual([]);
  });

  test("limits: pids.max text, the tightest on the way up, the agent's reserve", () => {
    expect(parsePidsMax("max\n")).toBe("max");
    expect(parsePidsMax("4915\n")).toBe(4915);
    expect(parsePidsMax("")).toBeUndefined();
    expect(tightestLimit([undefined, "max", 500, 4915])).toBe(500);
    expect(tightestLimit(["max", undefined])).toBe("max");
    expect(agentReserve(100)).toBe(64);
    expect(agentReserve(4915)).toBe(1229);
    expect(workLimit(100)).toBe(36);
    expect(workLimit(4915)).toBe(3686);
    expect(workLimit(50)).toBe(1);
    expect(workLimit("max")).toBe("max");
  });
});

/** A directory tree that looks like cgroupfs: each group with its files. */
function fakeGroup(dir: string, files: Record<string, string>): void {
  mkdirSync(dir, { recursive: true });
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
}

describe("setup sequences on a stand-in tree", () => {
  test("v1: the work group beside the agent, below the tightest limit above; nothing to undo", () => {
    const mount = tempDir();
    const own = join(mount, "system.slice", "alpamon.service");
    fakeGroup(join(mount, "system.slice"), { "pids.max": "300\n" });
    fakeGroup(own, { "pids.max": "max\n", "cgroup.procs": "" });
    expect(budgetAbove(own, mount)).toBe(300);
    const setup = setupV1({ version: 1, mountPoint: mount, dir: own });
    if (!setup.ok) throw new Error(setup.reason);
    expect(setup.work).toMatchObject({
      version: 1,
      dir: join(own, "alpamon-work"),
      procs: join(own, "alpamon-work", "cgroup.procs"),
      budget: 300,
      limit: 225,
    });
    expect(readFileSync(join(own, "alpamon-work", "pids.max"), "utf8")).toBe("225");
    expect(setup.work.release()).toBeUndefined();
    expect(existsSync(join(own, "alpamon-work"))).toBe(true);
  });

  test("v2: the agent into its leaf, +pids for the children, the work group; release undoes it", () => {
    const mount = tempDir();
    const unit = join(mount, "system.slice", "alpamon.service");
    fakeGroup(unit, {
      "cgroup.controllers": "cpu io memory pids\n",
      "cgroup.subtree_control": "",
      "pids.max": "4915\n",
      "cgroup.procs": "",
    });
    const setup = setupV2({ version: 2, mountPoint: mount, dir: unit }, 4242);
    if (!setup.ok) throw new Error(setup.reason);
    expect(readFileSync(join(unit, "agent", "cgroup.procs"), "utf8")).toBe("4242");
    expect(readFileSync(join(unit, "cgroup.subtree_control"), "utf8")).toBe("+pids");
    expect(setup.work).toMatchObject({ version: 2, dir: join(unit, "work"), budget: 4915, limit: 3686 });
    expect(readFileSync(join(unit, "work", "pids.max"), "utf8")).toBe("3686");

    // A stand-in file keeps what was written last; the kernel would show "pids" in subtree_control.
    writeFileSync(join(unit, "cgroup.subtree_control"), "pids\n");
    expect(setup.work.release()).toBeUndefined();
    expect(readFileSync(join(unit, "cgroup.subtree_control"), "utf8")).toBe("-pids");
    expect(readFileSync(join(unit, "cgroup.procs"), "utf8")).toBe("4242");
  });

  test("v2 after a restart in place: the agent already in its leaf sets up the unit one level up", () => {
    const mount = tempDir();
    const unit = join(mount, "alpamon.service");
    fakeGroup(unit, { "cgroup.controllers": "pids\n", "cgroup.subtree_control": "pids\n", "pids.max": "1000\n" });
    fakeGroup(join(unit, "agent"), { "cgroup.procs": "4242\n" });
    fakeGroup(join(unit, "work"), { "pids.max": "750\n" });
    const setup = setupV2({ version: 2, mountPoint: mount, dir: join(unit, "agent") }, 4242);
    if (!setup.ok) throw new Error(setup.reason);
    expect(setup.work.dir).toBe(join(unit, "work"));
    expect(readFileSync(join(unit, "cgroup.subtree_control"), "utf8")).toBe("pids\n");
  });

  test("v2 without the pids controller (no Delegate=yes): a clear reason, nothing created", () => {
    const mount = tempDir();
    const unit = join(mount, "alpamon.service");
    fakeGroup(unit, { "cgroup.controllers": "cpu memory\n" });
    const setup = setupV2({ version: 2, mountPoint: mount, dir: unit }, 4242);
    expect(setup).toEqual({ ok: false, reason: `the pids controller is not available in ${unit} (is the unit Delegate=yes?)` });
    expect(existsSync(join(unit, "agent"))).toBe(false);
  });

  test("cgroup-release (ExecStartPre, in the unit's .control): turns +pids off only where the agent made its work group", () => {
    const mount = tempDir();
    const unit = join(mount, "alpamon.service");
    fakeGroup(unit, { "cgroup.subtree_control": "pids\n" });
    fakeGroup(join(unit, ".control"), { "cgroup.procs": "77\n" });
    const control = { version: 2 as const, mountPoint: mount, dir: join(unit, ".control") };
    expect(releaseDelegatedCgroup([control])).toEqual({ ok: true, changed: false, message: `nothing to release in ${unit}` });
    fakeGroup(join(unit, "work"), { "cgroup.procs": "1234\n" });
    expect(releaseDelegatedCgroup([control])).toEqual({ ok: true, changed: true, message: `pids disabled for the children of ${unit}` });
    expect(readFileSync(join(unit, "cgroup.subtree_control"), "utf8")).toBe("-pids");
    expect(releaseDelegatedCgroup([{ version: 1, mountPoint: mount, dir: unit }]).message).toBe(
      "no cgroup v2 hierarchy: nothing to release",
    );
  });
});
