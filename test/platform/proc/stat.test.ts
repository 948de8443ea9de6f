import { describe, expect, test } from "bun:test";
import { cpuUsage, parseStat, readStat, type CpuTicks } from "../../../src/platform/proc/stat.ts";
import { fixture, readFixture } from "../../capabilities/metrics/fixtures.ts";

const ticks = (overrides: Partial<CpuTicks> = {}): CpuTicks => ({
  user: 0,
  nice: 0,
  system: 0,
  idle: 0,
  iowait: 0,
  irq: 0,
  softirq: 0,
  steal: 0,
  guest: 0,
  guest_nice: 0,
  ...overrides,
});

describe("parseStat", () => {
  test("reads the aggregate cpu line of a captured /proc/stat, not cpu0", () => {
    expect(parseStat(readFixture("proc", "host-a", "stat"))).toEqual(
      ticks({ user: 2209, system: 1600, idle: 32181, iowait: 101, softirq: 32, steal: 7 }),
    );
  });

  test("fields an old kernel does not print are 0", () => {
    expect(parseStat(readFixture("proc", "variants", "stat-2.4"))).toEqual(ticks({ user: 100, nice: 5, system: 50, idle: 1000 }));
  });

  test("no aggregate line gives undefined, and the reader throws", () => {
    expect(parseStat("cpu0 1 2 3 4\nintr 5\n")).toBeUndefined();
    expect(() => readStat(fixture("proc", "does-not-exist"))).toThrow();
  });
});

describe("cpuUsage", () => {
  test("captured pair: busy ticks over all ticks", () => {
    const prev = parseStat(readFixture("proc", "host-a", "stat"))!;
    const cur = parseStat(readFixture("proc", "host-b", "stat"))!;
    // Δuser 92, Δsystem 2, Δsoftirq 1 busy; Δidle 111, Δiowait 1 idle; 207 ticks in all.
    expect(cpuUsage(prev, cur)).toBeCloseTo((95 / 207) * 100, 10);
  });

  test("guest time is not counted twice", () => {
    const prev = parseStat(readFixture("proc", "server-a", "stat"))!;
    const cur = parseStat(readFixture("proc", "server-b", "stat"))!;
    // Δuser 150 (of which guest 30), Δsystem 50, Δsoftirq 10 over 500 ticks; counting guest again would give 45.3.
    expect(cpuUsage(prev, cur)).toBeCloseTo(42, 10);
  });

  test("no elapsed ticks is 0, not 100", () => {
    const same = ticks({ user: 10, idle: 90 });
    expect(cpuUsage(same, same)).toBe(0);
    expect(cpuUsage(ticks({ user: 20, idle: 90 }), ticks({ user: 10, idle: 90 }))).toBe(0);
  });

  test("clamped to [0, 100] when a counter runs backwards", () => {
    // iowait is known to go backwards on some kernels: busy then grows faster than total.
    expect(cpuUsage(ticks({ user: 0, iowait: 50 }), ticks({ user: 100, iowait: 30 }))).toBe(100);
    expect(cpuUsage(ticks({ user: 50, idle: 0 }), ticks({ user: 40, idle: 100 }))).toBe(0);
  });

  test("all idle is 0 and all busy is 100", () => {
    expect(cpuUsage(ticks(), ticks({ idle: 100 }))).toBe(0);
    expect(cpuUsage(ticks(), ticks({ system: 40, irq: 10, steal: 50 }))).toBe(100);
  });
});
