// The one rate limiter of log/: a burst at once, then a steady refill by the caller's clock.
import { expect, test } from "bun:test";
import { TokenBucket } from "../../src/log/token-bucket.ts";

test("a burst, then one token per 60/perMinute seconds, never more than the burst saved up", () => {
  let now = 0;
  const bucket = new TokenBucket({ burst: 3, perMinute: 6, now: () => now });
  expect([1, 2, 3, 4].map(() => bucket.take())).toEqual([true, true, true, false]);
  now += 9_999;
  expect(bucket.take()).toBe(false);
  now += 1;
  expect(bucket.take()).toBe(true);
  now += 60 * 60_000; // an hour of quiet refills only up to the burst
  expect([1, 2, 3, 4].map(() => bucket.take())).toEqual([true, true, true, false]);
});
