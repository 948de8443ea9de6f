// The sync diff on fixtures: single-row compare, keyed multirow compare with PATCH/DELETE/one POST,
// duplicates, package identity by name+arch(+version), and the remote-answer validation messages.
import { describe, expect, test } from "bun:test";
import { diffRows, diffSingle, parseRemoteRow, parseRemoteRows, sameValue } from "../../../src/capabilities/inventory/diff.ts";
import { KEY_DEFS } from "../../../src/capabilities/inventory/keys.ts";
import { hashView } from "../../../src/capabilities/inventory/sync.ts";

const user = (username: string, uid: number, shell = "/bin/bash") => ({
  uid,
  gid: uid,
  username,
  description: "",
  directory: `/home/${username}`,
  shell,
});

describe("diffRows", () => {
  test("only the differences: one PATCH, one DELETE, one POST of an array; extra remote fields ignored", () => {
    const current = [user("alice", 1000), user("bob", 1001, "/bin/zsh"), user("carol", 1002), user("dave", 1003)];
    const remote = [
      { id: 7, ...user("alice", 1000), server: "x" },
      { id: 8, ...user("bob", 1001) },
      { id: 9, ...user("mallory", 1666) },
      { id: 10, ...user("carol", 1002), description: "ignored: description is not compared" },
    ];
    expect(diffRows(KEY_DEFS.users, current, remote)).toEqual([
      { method: "PATCH", path: "/api/proc/users/8/", body: user("bob", 1001, "/bin/zsh") },
      { method: "DELETE", path: "/api/proc/users/9/" },
      { method: "POST", path: "/api/proc/users/", body: [user("dave", 1003)] },
    ]);
  });

  test("identical lists give nothing; remote duplicates are deleted", () => {
    const current = [user("alice", 1000)];
    expect(diffRows(KEY_DEFS.users, current, [{ id: "a", ...user("alice", 1000) }])).toEqual([]);
    expect(
      diffRows(KEY_DEFS.users, current, [
        { id: "a", ...user("alice", 1000) },
        { id: "b", ...user("alice", 1000) },
      ]),
    ).toEqual([{ method: "DELETE", path: "/api/proc/users/b/" }]);
  });

  test("groups match by gid; packages by name and arch, then version for parallel installs", () => {
    expect(diffRows(KEY_DEFS.groups, [{ gid: 27, groupname: "wheel" }], [{ id: 1, gid: 27, groupname: "sudo" }])).toEqual([
      { method: "PATCH", path: "/api/proc/groups/1/", body: { gid: 27, groupname: "wheel" } },
    ]);
    const pkg = (name: string, arch: string, version: string) => ({ name, version, source: "", arch });
    const current = [
      pkg("libc6", "amd64", "2.36"),
      pkg("libc6", "i386", "2.36"),
      pkg("kernel", "x86_64", "5.14-427"),
      pkg("kernel", "x86_64", "5.14-362"),
    ];
    const remote = [
      { id: 1, ...pkg("libc6", "amd64", "2.35") },
      { id: 2, ...pkg("libc6", "i386", "2.36") },
      { id: 3, ...pkg("kernel", "x86_64", "5.14-362") },
      { id: 4, ...pkg("kernel", "x86_64", "5.14-284") },
    ];
    expect(diffRows(KEY_DEFS.packages, current, remote)).toEqual([
      { method: "PATCH", path: "/api/proc/packages/1/", body: pkg("libc6", "amd64", "2.36") },
      { method: "DELETE", path: "/api/proc/packages/4/" },
      { method: "POST", path: "/api/proc/packages/", body: [pkg("kernel", "x86_64", "5.14-427")] },
    ]);
  });

  test("partitions compare mount point arrays in order", () => {
    const p = { name: "/dev/vda1", mount_points: ["/", "/srv"], disk_name: "vda", fs_type: "ext4", is_virtual: false };
    expect(diffRows(KEY_DEFS.partitions, [p], [{ id: 1, ...p }])).toEqual([]);
    expect(diffRows(KEY_DEFS.partitions, [p], [{ id: 1, ...p, mount_points: ["/"] }])).toHaveLength(1);
    expect(diffRows(KEY_DEFS.partitions, [{ ...p, mount_points: ["/"] }], [{ id: 1, ...p }])).toHaveLength(1); // shrank at the end
  });
});

describe("diffSingle", () => {
  test("PATCH the whole object to <url><id>/ only when a compared field differs", () => {
    const os = { name: "debian", version: "12.7", major: 12, minor: 7, patch: 0, platform: "debian", platform_like: "debian" };
    expect(diffSingle(KEY_DEFS.os, os, { id: 3, ...os })).toEqual([]);
    expect(diffSingle(KEY_DEFS.os, os, { id: 3, ...os, version: "12.6", minor: 6 })).toEqual([
      { method: "PATCH", path: "/api/proc/os/3/", body: os },
    ]);
  });

  test("time hashes only zone and boot minute, so a later second is unchanged", () => {
    const t = { datetime: "2026-01-01T00:00:00Z", timezone: "UTC", uptime: 100, boot_time: 1_767_225_500 };
    const later = { ...t, datetime: "2026-01-01T00:00:30Z", uptime: 130 };
    expect(sameValue(hashView(KEY_DEFS.time, t), hashView(KEY_DEFS.time, later))).toBe(true);
    expect(sameValue(hashView(KEY_DEFS.time, t), hashView(KEY_DEFS.time, { ...t, timezone: "KST" }))).toBe(false);
    expect(sameValue(hashView(KEY_DEFS.time, t), hashView(KEY_DEFS.time, { ...t, boot_time: t.boot_time - 3600 }))).toBe(false); // a reboot
  });
});

describe("remote answers", () => {
  test("valid shapes pass; malformed ones name the problem", () => {
    expect(parseRemoteRow('{"id": 1, "name": "debian"}')).toEqual({ ok: true, value: { id: 1, name: "debian" } });
    expect(parseRemoteRows('[{"id": "u1"}]')).toEqual({ ok: true, value: [{ id: "u1" }] });
    expect(parseRemoteRow("<html>")).toEqual({ ok: false, error: "the console's row is not JSON" });
    const noId = parseRemoteRows('[{"id": 1}, {"name": "x"}]');
    expect(noId.ok).toBe(false);
    expect(!noId.ok && noId.error).toContain("field 1");
    expect(parseRemoteRows('{"results": []}').ok).toBe(false);
  });
});
