import { describe, expect, test } from "bun:test";
import { memoryUsage, parseMeminfo, readMeminfo } from "../../../src/platform/proc/meminfo.ts";
import { fixture, readFixture } from "../../capabilities/metrics/fixtures.ts";

const KiB = 1024;

describe("parseMeminfo", () => {
  test("kB fields become bytes, counts stay counts", () => {
    const info = parseMeminfo(readFixture("proc", "variants", "meminfo-3.13"));
    expect(info.MemTotal).toBe(2048000 * KiB);
    expect(info.SReclaimable).toBe(204800 * KiB);
    expect(info.HugePages_Total).toBe(4);
    expect(info.MemAvailable).toBeUndefined();
  });

  test("a captured /proc/meminfo", () => {
    const info = parseMeminfo(readFixture("proc", "host-a", "meminfo"));
    expect(info.MemTotal).toBe(24683656 * KiB);
    expect(info.MemAvailable).toBe(24358512 * KiB);
    expect(info["Active(anon)"]).toBeNumber();
  });

  test("the reader throws on a missing file", () => {
    expect(() => readMeminfo(fixture("proc", "does-not-exist"))).toThrow();
  });
});

describe("memoryUsage", () => {
  test("captured host: MemAvailable-based figure, reference figure beside it", () => {
    const usage = memoryUsage(parseMeminfo(readFixture("proc", "host-a", "meminfo")));
    const total = 24683656 * KiB;
    const used = (24683656 - 24358512) * KiB;
    const usedReference = (24683656 - 23617756 - 5228 - (928480 + 45160)) * KiB;
    expect(usage).toEqual({
      total,
      used,
      usage: (used / total) * 100,
      basis: "MemAvailable",
      used_reference: usedReference,
      usage_reference: (usedReference / total) * 100,
    });
  });

  test("shmem-heavy server: the two formulas differ, usage is the MemAvailable one", () => {
    const usage = memoryUsage(parseMeminfo(readFixture("proc", "server-b", "meminfo")));
    expect(usage.usage).toBeCloseTo(62.5, 10);
    expect(usage.used).toBe((16384000 - 6144000) * KiB);
    expect(usage.usage_reference).toBeCloseTo(40, 10);
    expect(usage.used_reference).toBe((16384000 - 1024000 - 204800 - (8192000 + 409600)) * KiB);
  });

  test("kernels without MemAvailable fall back to the reference formula", () => {
    const usage = memoryUsage(parseMeminfo(readFixture("proc", "variants", "meminfo-3.13")));
    const used = (2048000 - 512000 - 102400 - (409600 + 204800)) * KiB;
    expect(usage.basis).toBe("reference");
    expect(usage.used).toBe(used);
    expect(usage.used_reference).toBe(used);
    expect(usage.usage).toBeCloseTo(40, 10);
  });

  test("nothing known is all zeros, never NaN", () => {
    expect(memoryUsage({})).toEqual({
      total: 0,
      used: 0,
      usage: 0,
      basis: "reference",
      used_reference: 0,
      usage_reference: 0,
    });
  });
});
