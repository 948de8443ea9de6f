// ZONE-DEPENDENT: the sample's timestamp is compared with UTC `…Z` literals; test/tz/zone.test.ts runs this file
// under non-UTC zones too.
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  formatBitRate,
  formatByteRate,
  formatBytes,
  formatOnceTable,
  takeOnceSample,
  type OnceSample,
} from "../../../src/capabilities/metrics/once.ts";
import { ManualClock } from "../../../src/platform/clock.ts";
import { fakeStatfs, fixture, swappingTree, type SwappingTree } from "./fixtures.ts";

const GOLDEN = fixture("once-golden.json");

const serverStatfs = fakeStatfs({
  "/": { bsize: 4096, blocks: 10_000_000, bfree: 4_000_000, bavail: 3_500_000 },
  "/boot/efi": { bsize: 4096, frsize: 4096, blocks: 130_000, bfree: 128_000, bavail: 128_000 },
  "/home": { bsize: 4096, blocks: 50_000_000, bfree: 25_000_000, bavail: 22_500_000 },
  "/srv/data": { bsize: 4096, blocks: 100_000_000, bfree: 80_000_000, bavail: 80_000_000 },
  "/mnt/backup disk": { bsize: 4096, blocks: 1000, bfree: 1000, bavail: 950 },
  "/sysroot": { bsize: 4096, blocks: 0, bfree: 0, bavail: 0 },
  // "/mnt/broken" is missing: its statfs fails.
});

let tree: SwappingTree | undefined;
afterEach(() => {
  tree?.cleanup();
  tree = undefined;
});

async function sampleServer(elapsedMs = 1250, sysRoot = fixture("sys", "server")): Promise<OnceSample> {
  tree = swappingTree(fixture("proc", "server-a"), fixture("proc", "server-b"), elapsedMs);
  return takeOnceSample({ procRoot: tree.procRoot, sysRoot, clock: tree.clock, statfs: serverStatfs });
}

describe("takeOnceSample", () => {
  test("golden: the whole sample over the server fixture tree", async () => {
    const text = `${JSON.stringify(await sampleServer(), null, 2)}\n`;
    if (process.env.UPDATE_GOLDEN === "1") writeFileSync(GOLDEN, text);
    expect(text).toBe(readFileSync(GOLDEN, "utf8"));
  });

  test("captured host tree: every figure from the captured files", async () => {
    tree = swappingTree(fixture("proc", "host-a"), fixture("proc", "host-b"), 1000);
    const sample = await takeOnceSample({
      procRoot: tree.procRoot,
      sysRoot: fixture("sys", "host"),
      clock: tree.clock,
      statfs: fakeStatfs({ "/": { bsize: 4096, blocks: 66053021, bfree: 60155932, bavail: 20700639 } }),
    });
    const total = 24683656 * 1024;
    expect(sample.timestamp).toBe("2026-01-01T00:00:01.000Z");
    expect(sample.cpu.usage).toBeCloseTo((95 / 207) * 100, 10);
    expect([sample.memory.total, sample.memory.used]).toEqual([total, (24683656 - 24356388) * 1024]);
    expect(sample.disk_usage).toEqual([
      {
        device: "/dev/vda",
        mount_point: "/",
        usage: ((66053021 - 60155932) / (66053021 - 60155932 + 20700639)) * 100,
        total: 66053021 * 4096,
        free: 20700639 * 4096,
        used: (66053021 - 60155932) * 4096,
      },
    ]);
    expect(sample.disk_io).toEqual([{ device: "vda", read_bps: 0, write_bps: (1986736 - 1970328) * 512 }]);
    expect(sample.traffic).toEqual([
      {
        name: "eth0",
        input_bps: (313048543 - 313045003) * 8,
        output_bps: (378389 - 327331) * 8,
        input_pps: 6,
        output_pps: 49,
      },
    ]);
    expect(sample.unavailable).toEqual([]);
  });

  test("rates divide by the measured window, not the requested one", async () => {
    const short = await sampleServer(1250);
    expect(tree!.requestedSleeps).toEqual([1000]);
    tree!.cleanup();
    const long = await sampleServer(2500);
    expect(long.timestamp).toBe("2026-01-01T00:00:02.500Z");
    expect(long.cpu).toEqual(short.cpu);
    expect(long.disk_io.map((d) => d.write_bps * 2)).toEqual(short.disk_io.map((d) => d.write_bps));
    expect(long.traffic.map((t) => t.input_bps * 2)).toEqual(short.traffic.map((t) => t.input_bps));
    expect(short.traffic.find((t) => t.name === "bond0")).toEqual({
      name: "bond0",
      input_bps: 800_000,
      output_bps: 400_000,
      input_pps: 100,
      output_pps: 40,
    });
  });

  test("windowMs is what the sampler asks the clock for", async () => {
    tree = swappingTree(fixture("proc", "server-a"), fixture("proc", "server-b"), 10);
    await takeOnceSample({ procRoot: tree.procRoot, clock: tree.clock, windowMs: 250, statfs: serverStatfs });
    expect(tree.requestedSleeps).toEqual([250]);
  });

  test("an empty /proc never throws: zero cpu and memory, empty lists, sources listed", async () => {
    const empty = mkdtempSync(join(tmpdir(), "alpamon-empty-"));
    try {
      const clock = new ManualClock();
      const pending = takeOnceSample({ procRoot: empty, sysRoot: empty, clock });
      while (clock.pending === 0) await Promise.resolve();
      await clock.advance(1000);
      const sample = await pending;
      expect(sample).toEqual({
        timestamp: "2026-01-01T00:00:01.000Z",
        cpu: { usage: 0 },
        memory: { usage: 0, total: 0, used: 0, basis: "reference", used_reference: 0, usage_reference: 0 },
        disk_usage: [],
        disk_io: [],
        traffic: [],
        unavailable: ["/proc/stat", "/proc/diskstats", "/proc/net/dev", "/proc/meminfo", "/proc/self/mountinfo"],
      });
    } finally {
      rmSync(empty, { recursive: true, force: true });
    }
  });

  test("without /sys: no disk I/O (whole disks unknown), interfaces filtered by name alone", async () => {
    const sample = await sampleServer(1250, fixture("sys", "does-not-exist"));
    expect(sample.disk_io).toEqual([]);
    expect(sample.unavailable).toContain("/sys/block");
    expect(sample.traffic.map((t) => t.name)).toEqual(["enp0s31f6", "enp0s3", "bond0"]);
    // Without sysfs the aliases stay as written.
    expect(sample.disk_usage.map((d) => d.device)).toContain("/dev/root");
  });

  test("a failing statfs skips that mount and names it", async () => {
    const sample = await sampleServer();
    expect(sample.disk_usage.map((d) => d.mount_point)).not.toContain("/mnt/broken");
    expect(sample.unavailable).toEqual(["statfs /mnt/broken"]);
  });
});

describe("formatOnceTable", () => {
  test("humanised units", () => {
    expect(formatBytes(0)).toBe("0 B");
    expect(formatBytes(1023)).toBe("1023 B");
    expect(formatBytes(1536)).toBe("1.5 KiB");
    expect(formatBytes(12.3 * 1024 ** 3)).toBe("12.3 GiB");
    expect(formatByteRate(5_120_000)).toBe("4.9 MiB/s");
    expect(formatBitRate(999)).toBe("999 bit/s");
    expect(formatBitRate(1_200_000)).toBe("1.2 Mbit/s");
    expect(formatBitRate(8_000_000_000)).toBe("8.0 Gbit/s");
  });

  test("every row of a table ends in the same column, with the figures in it", async () => {
    const text = formatOnceTable(await sampleServer());
    const blocks = text.split("\n\n").slice(2);
    expect(blocks.map((b) => b.split("\n")[0])).toEqual(["Disk usage", "Disk I/O", "Network", "Unavailable: statfs /mnt/broken"]);
    for (const block of blocks.slice(0, 3)) {
      const rows = block.split("\n").slice(1).filter(Boolean);
      expect(rows.length).toBeGreaterThan(1);
      expect(new Set(rows.map((row) => row.length)).size).toBe(1);
    }
    expect(text).toContain("CPU     42.0%");
    expect(text).toContain("Memory  62.5%  9.8 GiB used of 15.6 GiB  (reference formula: 40.0%)");
    expect(text).toMatch(/\/dev\/sda1\s+\/mnt\/backup disk\s+0\.0%\s+0 B\s+3\.7 MiB\s+3\.9 MiB/);
    expect(text).toMatch(/enp0s31f6\s+8\.0 Mbit\/s\s+4\.0 Mbit\/s\s+800\.0 pkt\/s\s+400\.0 pkt\/s/);
  });

  test("empty sections say so", () => {
    const text = formatOnceTable({
      timestamp: "2026-01-01T00:00:00.000Z",
      cpu: { usage: 0 },
      memory: { usage: 0, total: 0, used: 0, basis: "reference", used_reference: 0, usage_reference: 0 },
      disk_usage: [],
      disk_io: [],
      traffic: [],
      unavailable: [],
    });
    expect(text.match(/\(none\)/g)).toHaveLength(3);
    expect(text).toContain("(reference formula; no MemAvailable)");
  });
});
