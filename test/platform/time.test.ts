import { expect, test } from "bun:test";
import { formatUtcRfc3339Seconds, goDuration } from "../../src/platform/time.ts";

test("goDuration prints Go's time.Duration.String() of a duration truncated to whole seconds", () => {
  expect(goDuration(30 * 60_000)).toBe("30m0s");
  expect(goDuration(2 * 60_000)).toBe("2m0s");
  expect(goDuration(45_000)).toBe("45s");
  expect(goDuration(60 * 60_000)).toBe("1h0m0s");
  expect(goDuration(0)).toBe("0s");
  expect(goDuration(999)).toBe("0s");
  expect(goDuration(1_999)).toBe("1s");
  expect(goDuration(61_000)).toBe("1m1s");
  expect(goDuration(3_723_000)).toBe("1h2m3s");
  expect(goDuration(36 * 3_600_000 + 5_000)).toBe("36h0m5s");
  expect(goDuration(-90_000)).toBe("-1m30s");
});

test("formatUtcRfc3339Seconds: UTC, whole seconds, Z", () => {
  expect(formatUtcRfc3339Seconds(Date.UTC(2026, 7, 21, 3, 4, 5, 678))).toBe("2026-08-21T03:04:05Z");
});
