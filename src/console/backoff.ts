// Retry delays shared by the backhaul, the outbox and the session check: capped exponential backoff with
// full jitter, so thousands of agents that lost the console together do not come back in step.
// Pure arithmetic: never sleeps, never reads the clock.

/**
 * Full jitter: a uniform delay in [0, min(cap, base * 2^attempt)). `attempt` counts from 0 (the first retry
 * waits up to `baseMs`). `random` must return values in [0, 1); out-of-range values are clamped, so the
 * result is never negative and never above the cap.
 */
export function fullJitterDelay(attempt: number, baseMs: number, capMs: number, random: () => number): number {
  const base = Math.max(0, baseMs);
  const cap = Math.max(0, capMs);
  const exponent = Math.max(0, Math.floor(Number.isFinite(attempt) ? attempt : 0));
  // The exponent is bounded so base * 2^exponent stays finite (and 0 * Infinity never yields NaN).
  const ceiling = Math.min(cap, base * 2 ** Math.min(exponent, 52));
  const r = random();
  const fraction = Number.isFinite(r) ? Math.min(Math.max(r, 0), 1) : 0;
  return Math.floor(fraction * ceiling);
}
