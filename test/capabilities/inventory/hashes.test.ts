// The canonical JSON behind the 2026 sync hashes (src/capabilities/inventory/hashes.ts; README "Inventory").
import { describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { canonicalJson, canonicalValue, categoryHash, snapshotHashes } from "../../../src/capabilities/inventory/hashes.ts";

const sha = (text: string) => `sha256:${createHash("sha256").update(text).digest("hex")}`;

describe("canonical JSON", () => {
  test("partitions and disks sorted by name, mount points sorted, no partitions is null", () => {
    const p = (name: string, mounts: string[]) => ({ name, mount_points: mounts, disk_name: "vda", fs_type: "ext4", is_virtual: false });
    expect(canonicalJson(canonicalValue("partitions", [p("/dev/vdb1", ["/z", "/a"]), p("/dev/vda1", ["/"])]))).toBe(
      '[{"mount_points":["/"],"name":"/dev/vda1","disk_name":"vda","fs_type":"ext4","is_virtual":false},' +
        '{"mount_points":["/a","/z"],"name":"/dev/vdb1","disk_name":"vda","fs_type":"ext4","is_virtual":false}]',
    );
    expect(canonicalJson(canonicalValue("partitions", []))).toBe("null");
    const d = (name: string) => ({ label: "", serial_number: "s", name });
    expect(canonicalJson(canonicalValue("disks", [d("vdb"), d("vda")]))).toBe(
      '[{"name":"vda","serial_number":"s","label":""},{"name":"vdb","serial_number":"s","label":""}]',
    );
  });

  test("time hashes the zone only; users without description; Go's HTML escapes; sha256: prefix", () => {
    const t = { datetime: "2026-01-01T00:00:00+09:00", timezone: "KST", uptime: 5, boot_time: 7 };
    expect(categoryHash("time", t)).toBe(sha('{"datetime":"","boot_time":0,"timezone":"KST","uptime":0}'));
    expect(categoryHash("time", { ...t, uptime: 99, datetime: "x" })).toBe(categoryHash("time", t));
    const u = { shell: "/bin/sh", uid: 1, gid: 2, username: "a<b>&", description: "GECOS", directory: "/h" };
    expect(categoryHash("users", [u])).toBe(
      sha('[{"uid":1,"gid":2,"username":"a\\u003cb\\u003e\\u0026","description":"","directory":"/h","shell":"/bin/sh"}]'),
    );
    expect(Object.keys(snapshotHashes({ users: [u], time: t }))).toEqual(["time", "users"]);
  });
});
