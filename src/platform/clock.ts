// Clock: the one source of time for the agent. Tests pass a ManualClock so they never sleep for real.
// Never read Date.now() or performance.now() elsewhere in code that a test must control.

export interface Clock {
  /** Wall-clock time in epoch milliseconds (UTC). */
  now(): number;
  /** Monotonic milliseconds, for measuring elapsed time; unaffected by wall-clock jumps. */
  monotonic(): number;
  /** Resolves after `ms`; rejects with the signal's reason when `signal` aborts first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const timer = setTimeout(() => {
        signal?.removeEventListener("abort", onAbort);
        resolve();
      }, ms);
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal!.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
    }),
};

/** A clock that moves only when told to. Sleeps resolve when `advance` passes their deadline. */
export class ManualClock implements Clock {
  private wall: number;
  private mono = 0;
  private sleepers: { at: number; resolve: () => void }[] = [];

  constructor(startEpochMs = Date.UTC(2026, 0, 1)) {
    this.wall = startEpochMs;
  }

  now(): number {
    return this.wall;
  }

  monotonic(): number {
    return this.mono;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const entry = { at: this.mono + ms, resolve };
      this.sleepers.push(entry);
      signal?.addEventListener(
        "abort",
        () => {
          this.sleepers = this.sleepers.filter((s) => s !== entry);
          reject(signal.reason);
        },
        { once: true },
      );
    });
  }

  /** Moves both clocks forward and wakes every sleeper whose deadline has passed, in deadline order. */
  async advance(ms: number): Promise<void> {
    const target = this.mono + ms;
    for (;;) {
      this.sleepers.sort((a, b) => a.at - b.at);
      const next = this.sleepers[0];
      if (!next || next.at > target) break;
      this.sleepers.shift();
      this.wall += next.at - this.mono;
      this.mono = next.at;
      next.resolve();
      await Promise.resolve();
    }
    this.wall += target - this.mono;
    this.mono = target;
  }

  /** Number of pending sleeps; lets a test wait until the code under test is parked. */
  get pending(): number {
    return this.sleepers.length;
  }
}
