// fullJitterDelay: bounds, cap and the guarantees callers rely on (never negative, never above the cap).
import { describe, expect, test } from "bun:test";
import { fullJitterDelay } from "../../src/console/backoff.ts";

describe("fullJitterDelay", () => {
  test("is random() times min(cap, base * 2^attempt)", () => {
    expect(fullJitterDelay(0, 5_000, 60_000, () => 0.5)).toBe(2_500);
    expect(fullJitterDelay(1, 5_000, 60_000, () => 0.5)).toBe(5_000);
    expect(fullJitterDelay(3, 5_000, 60_000, () => 0.5)).toBe(20_000);
    expect(fullJitterDelay(4, 5_000, 60_000, () => 0.5)).toBe(30_000); // 80 s capped to 60 s
    expect(fullJitterDelay(0, 5_000, 60_000, () => 0)).toBe(0);
  });

  test("stays within [0, cap] for any attempt and any random value", () => {
    for (const attempt of [0, 1, 7, 30, 1_000, 1e9, Number.POSITIVE_INFINITY, -3, Number.NaN]) {
      for (const r of [0, 0.25, 0.999999, 1, 1.5, -0.5, Number.NaN]) {
        const delay = fullJitterDelay(attempt, 5_000, 60_000, () => r);
        expect(Number.isFinite(delay)).toBe(true);
        expect(delay).toBeGreaterThanOrEqual(0);
        expect(delay).toBeLessThanOrEqual(60_000);
      }
    }
  });

  test("the ceiling grows with the attempt until the cap, then stays there", () => {
    const ceilings = Array.from({ length: 8 }, (_, attempt) => fullJitterDelay(attempt, 100, 1_000, () => 1));
    expect(ceilings).toEqual([100, 200, 400, 800, 1_000, 1_000, 1_000, 1_000]);
  });

  test("spreads agents out: many draws cover the range instead of clustering", () => {
    let seed = 42;
    const random = () => {
      seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31;
      return seed / 2 ** 31;
    };
    const delays = Array.from({ length: 1_000 }, () => fullJitterDelay(2, 1_000, 60_000, random));
    expect(Math.min(...delays)).toBeLessThan(400);
    expect(Math.max(...delays)).toBeGreaterThan(3_600);
    expect(new Set(delays).size).toBeGreaterThan(500);
  });

  test("zero or negative base and cap give zero, not NaN", () => {
    expect(fullJitterDelay(5, 0, 60_000, () => 0.5)).toBe(0);
    expect(fullJitterDelay(5, 1_000, 0, () => 0.5)).toBe(0);
    expect(fullJitterDelay(5, -1, -1, () => 0.5)).toBe(0);
  });
});
