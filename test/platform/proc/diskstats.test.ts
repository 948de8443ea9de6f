import { describe, expect, test } from "bun:test";
import {
  diskIoRates,
  filterWholeDisks,
  isWholeDisk,
  parseDiskstats,
  readDiskstats,
  readWholeDiskNames,
  type DiskCounters,
} from "../../../src/platform/proc/diskstats.ts";
import { fixture, readFixture } from "../../capabilities/metrics/fixtures.ts";

const SECTOR = 512;

describe("parseDiskstats", () => {
  test("a captured /proc/diskstats: sectors read (field 6) and written (field 10) in bytes", () => {
    const disks = parseDiskstats(readFixture("proc", "host-a", "diskstats"));
    expect(disks.map((d) => d.name)).toEqual(["loop0", "loop1", "loop2", "loop3", "loop4", "loop5", "loop6", "loop7", "vda", "zram0"]);
    expect(disks.find((d) => d.name === "vda")).toEqual({
      name: "vda",
      readBytes: 730074 * SECTOR,
      writeBytes: 1970328 * SECTOR,
    });
  });

  test("short 2.6-era partition lines are skipped, names with a slash are kept", () => {
    expect(parseDiskstats(readFixture("proc", "variants", "diskstats-2.6"))).toEqual([
      { name: "hda", readBytes: 9550688 * SECTOR, writeBytes: 5922052 * SECTOR },
      { name: "sda", readBytes: 4000000 * SECTOR, writeBytes: 8000000 * SECTOR },
      { name: "cciss/c0d0", readBytes: 80000 * SECTOR, writeBytes: 40000 * SECTOR },
    ]);
  });

  test("readers: diskstats and /sys/block", () => {
    expect(readDiskstats(fixture("proc", "server-a")).length).toBe(14);
    expect([...readWholeDiskNames(fixture("sys", "host"))].sort()).toEqual([
      "loop0",
      "loop1",
      "loop2",
      "loop3",
      "loop4",
      "loop5",
      "loop6",
      "loop7",
      "vda",
      "zram0",
    ]);
    expect(() => readWholeDiskNames(fixture("sys", "does-not-exist"))).toThrow();
  });
});

describe("isWholeDisk", () => {
  const sysBlock = new Set(["sda", "nvme0n1", "mmcblk0", "dm-0", "md127", "loop0", "sr0", "zram0", "cciss!c0d0"]);
  const cases: [string, boolean][] = [
    ["sda", true],
    ["sda1", false],
    ["nvme0n1", true],
    ["nvme0n1p2", false],
    ["mmcblk0", true],
    ["mmcblk0p1", false],
    ["dm-0", true],
    ["md127", true],
    ["loop0", false],
    ["sr0", false],
    ["zram0", false],
    ["cciss/c0d0", true],
    ["sdz", false],
  ];
  test.each(cases)("%s -> %p", (name, expected) => {
    expect(isWholeDisk(name, sysBlock)).toBe(expected);
  });
});

describe("diskIoRates", () => {
  test("captured pair over one second", () => {
    const whole = readWholeDiskNames(fixture("sys", "host"));
    const prev = filterWholeDisks(parseDiskstats(readFixture("proc", "host-a", "diskstats")), whole);
    const cur = filterWholeDisks(parseDiskstats(readFixture("proc", "host-b", "diskstats")), whole);
    expect(diskIoRates(prev, cur, 1)).toEqual([{ device: "vda", read_bps: 0, write_bps: (1986736 - 1970328) * SECTOR }]);
  });

  test("server pair: appeared, vanished and reset disks give no sample; rates use the elapsed time", () => {
    const whole = readWholeDiskNames(fixture("sys", "server"));
    const prev = filterWholeDisks(parseDiskstats(readFixture("proc", "server-a", "diskstats")), whole);
    const cur = filterWholeDisks(parseDiskstats(readFixture("proc", "server-b", "diskstats")), whole);
    // sdb appears, sdc vanishes, nvme0n1 was reset (counters smaller in the second snapshot).
    expect(diskIoRates(prev, cur, 1.25)).toEqual([
      { device: "sda", read_bps: (5000 * SECTOR) / 1.25, write_bps: (12500 * SECTOR) / 1.25 },
      { device: "mmcblk0", read_bps: 0, write_bps: 0 },
      { device: "dm-0", read_bps: (2500 * SECTOR) / 1.25, write_bps: (25000 * SECTOR) / 1.25 },
      { device: "md127", read_bps: 0, write_bps: (2500 * SECTOR) / 1.25 },
    ]);
  });

  test("a counter going backwards in either direction drops the device, never a huge value", () => {
    const prev: DiskCounters[] = [
      { name: "sda", readBytes: 1_000_000, writeBytes: 1_000_000 },
      { name: "sdb", readBytes: 1_000_000, writeBytes: 1_000_000 },
      { name: "sdc", readBytes: 1_000_000, writeBytes: 1_000_000 },
    ];
    const cur: DiskCounters[] = [
      { name: "sda", readBytes: 10, writeBytes: 2_000_000 },
      { name: "sdb", readBytes: 2_000_000, writeBytes: 10 },
      { name: "sdc", readBytes: 1_000_512, writeBytes: 1_000_000 },
    ];
    expect(diskIoRates(prev, cur, 1)).toEqual([{ device: "sdc", read_bps: 512, write_bps: 0 }]);
  });

  test("no elapsed time gives no sample", () => {
    const disks: DiskCounters[] = [{ name: "sda", readBytes: 1, writeBytes: 1 }];
    expect(diskIoRates(disks, disks, 0)).toEqual([]);
    expect(diskIoRates(disks, disks, -1)).toEqual([]);
  });
});
