import { describe, expect, test } from "bun:test";
import {
  decodeMountField,
  diskUsage,
  isRealBlockMount,
  parseMountinfo,
  parseUeventDevName,
  readMountinfo,
  selectBlockMounts,
  sysfsDeviceResolver,
  usageFromStatfs,
  type MountInfo,
} from "../../../src/platform/proc/mountinfo.ts";
import { fakeStatfs, fixture, readFixture } from "../../capabilities/metrics/fixtures.ts";

describe("parseMountinfo", () => {
  test("a captured mountinfo: every line, fields in place", () => {
    const mounts = parseMountinfo(readFixture("proc", "host-a", "self", "mountinfo"));
    expect(mounts).toHaveLength(20);
    expect(mounts.find((m) => m.mountPoint === "/")).toEqual({
      mountId: 27,
      parentId: 1,
      majorMinor: "254:0",
      root: "/",
      mountPoint: "/",
      options: "rw,relatime",
      fsType: "ext4",
      source: "/dev/vda",
      superOptions: "rw,discard,resv_strict,resuid=65534,resgid=65534",
    });
  });

  test("optional fields before the separator, and none at all", () => {
    const [withOptional, without] = parseMountinfo(
      "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 shared:2 propagate_from:3 - ext3 /dev/root rw,errors=continue\n" +
        "37 35 98:1 / /data rw - xfs /dev/sdb1 rw\n",
    );
    expect([withOptional!.fsType, withOptional!.source, withOptional!.root]).toEqual(["ext3", "/dev/root", "/mnt1"]);
    expect([without!.fsType, without!.source, without!.mountPoint]).toEqual(["xfs", "/dev/sdb1", "/data"]);
  });

  test("octal escapes in mount points are decoded", () => {
    expect(decodeMountField("/mnt/my\\040disk\\011tab\\134back\\012nl")).toBe("/mnt/my disk\ttab\\back\nnl");
    const [mount] = parseMountinfo("48 28 8:1 / /mnt/backup\\040disk rw - ext4 /dev/sda1 rw\n");
    expect(mount!.mountPoint).toBe("/mnt/backup disk");
  });

  test("malformed lines are skipped", () => {
    expect(parseMountinfo("\ngarbage\n1 2 3:4 / /x rw no-separator ext4 /dev/sda rw\n")).toEqual([]);
  });

  test("the reader prefers /proc/1/mountinfo and falls back to /proc/self/mountinfo", () => {
    expect(readMountinfo(fixture("proc", "server-b")).some((m) => m.mountPoint === "/srv/data")).toBe(true);
    expect(readMountinfo(fixture("proc", "host-a")).some((m) => m.source === "/dev/vda")).toBe(true);
    expect(() => readMountinfo(fixture("proc", "does-not-exist"))).toThrow();
  });
});

describe("isRealBlockMount", () => {
  const cases: [string, string, string, boolean][] = [
    ["/dev/sda1", "ext4", "/", true],
    ["/dev/sda2", "xfs", "/sysroot", true],
    ["/dev/sda3", "ext4", "/system", true],
    ["/dev/sda4", "ext4", "/running", true],
    ["/dev/sda5", "ext4", "/devices", true],
    ["/dev/sdb1", "fuseblk", "/mnt/windows", true],
    ["/dev/sdb1", "vfat", "/run/media/admin/USB", false],
    ["/dev/sdb1", "ext4", "/run", false],
    ["/dev/sdb1", "ext4", "/sys", false],
    ["/dev/sdb1", "ext4", "/proc/x", false],
    ["/dev/sdb1", "ext4", "/dev/disk", false],
    ["tmpfs", "tmpfs", "/dev/shm", false],
    ["/dev/sdc1", "tmpfs", "/mnt/tmp", false],
    ["/dev/loop0", "squashfs", "/snap/core22/1234", false],
    ["fileserver:/export", "nfs4", "/mnt/nfs", false],
    ["overlay", "overlay", "/var/lib/docker/overlay2/abc/merged", false],
    ["/dev/mapper/vg0-home", "ext4", "/home", true],
    ["dev/sda1", "ext4", "/", false],
  ];
  test.each(cases)("%s (%s) on %s -> %p", (device, fsType, mountPoint, expected) => {
    expect(isRealBlockMount(device, fsType, mountPoint)).toBe(expected);
  });
});

describe("selectBlockMounts", () => {
  test("captured host: only the root disk", () => {
    const mounts = parseMountinfo(readFixture("proc", "host-a", "self", "mountinfo"));
    expect(selectBlockMounts(mounts, sysfsDeviceResolver(fixture("sys", "host")))).toEqual([
      { device: "/dev/vda", mountPoint: "/", fsType: "ext4" },
    ]);
  });

  test("server: /dev/root and /dev/mapper resolved, bind mount and virtual mounts dropped, /sysroot kept", () => {
    const mounts = parseMountinfo(readFixture("proc", "server-b", "1", "mountinfo"));
    expect(selectBlockMounts(mounts, sysfsDeviceResolver(fixture("sys", "server")))).toEqual([
      { device: "/dev/nvme0n1p2", mountPoint: "/", fsType: "ext4" },
      { device: "/dev/nvme0n1p1", mountPoint: "/boot/efi", fsType: "vfat" },
      { device: "/dev/dm-0", mountPoint: "/home", fsType: "ext4" },
      { device: "/dev/md127", mountPoint: "/srv/data", fsType: "xfs" },
      { device: "/dev/sda1", mountPoint: "/mnt/backup disk", fsType: "ext4" },
      { device: "/dev/sda2", mountPoint: "/sysroot", fsType: "xfs" },
      { device: "/dev/sdc1", mountPoint: "/mnt/broken", fsType: "ext4" },
    ]);
  });

  test("without a resolver, aliases are kept as written and still de-duplicated", () => {
    const mounts = parseMountinfo("1 0 8:1 / / rw - ext4 /dev/root rw\n2 1 8:1 /home /home rw - ext4 /dev/root rw\n");
    expect(selectBlockMounts(mounts)).toEqual([{ device: "/dev/root", mountPoint: "/", fsType: "ext4" }]);
  });
});

describe("sysfsDeviceResolver", () => {
  const mount = (source: string, majorMinor: string): MountInfo => ({
    mountId: 1,
    parentId: 0,
    majorMinor,
    root: "/",
    mountPoint: "/",
    options: "rw",
    fsType: "ext4",
    source,
    superOptions: "rw",
  });
  const resolve = sysfsDeviceResolver(fixture("sys", "server"));

  test("aliases resolve through /sys/dev/block/<maj:min>/uevent", () => {
    expect(resolve(mount("/dev/root", "259:2"))).toBe("/dev/nvme0n1p2");
    expect(resolve(mount("/dev/mapper/vg0-home", "253:0"))).toBe("/dev/dm-0");
  });

  test("an unknown maj:min keeps the alias; other devices are never looked up", () => {
    expect(resolve(mount("/dev/root", "0:31"))).toBe("/dev/root");
    expect(resolve(mount("/dev/sda1", "259:2"))).toBe("/dev/sda1");
  });

  test("uevent DEVNAME", () => {
    expect(parseUeventDevName("MAJOR=8\nMINOR=1\nDEVNAME=sda1\nDEVTYPE=partition\n")).toBe("sda1");
    expect(parseUeventDevName("MAJOR=8\nMINOR=1\n")).toBeUndefined();
  });
});

describe("usageFromStatfs", () => {
  test("used counts reserved blocks, free is what users may still write", () => {
    // 1000 blocks, 400 free of which 50 reserved for root.
    expect(usageFromStatfs({ bsize: 4096, blocks: 1000, bfree: 400, bavail: 350 })).toEqual({
      total: 1000 * 4096,
      free: 350 * 4096,
      used: 600 * 4096,
      usage: (600 / 950) * 100,
    });
  });

  test("block counts are in fragment-size units when frsize is given", () => {
    const usage = usageFromStatfs({ bsize: 4096, frsize: 1024, blocks: 1000, bfree: 500, bavail: 500 });
    expect([usage.total, usage.used, usage.free, usage.usage]).toEqual([1024000, 512000, 512000, 50]);
  });

  test("empty file system is 0 %, a full one 100 %", () => {
    expect(usageFromStatfs({ bsize: 4096, blocks: 0, bfree: 0, bavail: 0 }).usage).toBe(0);
    expect(usageFromStatfs({ bsize: 4096, blocks: 100, bfree: 5, bavail: 0 }).usage).toBe(100);
  });

  test("diskUsage applies the math to the given statfs and lets its error through", () => {
    const statfs = fakeStatfs({ "/data": { bsize: 512, blocks: 10, bfree: 5, bavail: 5 } });
    expect(diskUsage("/data", statfs)).toEqual({ total: 5120, free: 2560, used: 2560, usage: 50 });
    expect(() => diskUsage("/gone", statfs)).toThrow("EIO");
  });
});
