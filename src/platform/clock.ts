// Clock: the one source of time for the agent. Tests pass a ManualClock so they never sleep for real.
// Never read Date.now() or performance.now() elsewhere in code that a test must control.
//
// The system clock keeps every sleep of the agent (metric checks, outbox retries, backhaul ping and dead-peer
// watch, page-out, command timeouts) in one timer wheel with one real timer, armed for the earliest deadline.
// Sleeps are never woken early (the runtime truncates a fractional delay, which used to wake the scheduler a
// fraction of a millisecond early and cost it a second timer). Timer slack (waking long sleeps a little late so
// they share a wake-up) was measured and did not save any: BENCHMARKS.md, "Idle".

export interface Clock {
  /** Wall-clock time in epoch milliseconds (UTC). */
  now(): number;
  /** Monotonic milliseconds, for measuring elapsed time; unaffected by wall-clock jumps. */
  monotonic(): number;
  /** Resolves after `ms`; rejects with the signal's reason when `signal` aborts first. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** What the wheel needs of the runtime: one-shot timers and a monotonic clock. Tests inject a counting one. */
export interface TimerHost {
  setTimeout(fire: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
  /** Monotonic milliseconds. */
  now(): number;
}

const realTimers: TimerHost = {
  setTimeout: (fire, ms) => setTimeout(fire, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
  now: () => performance.now(),
};

/** Longest delay handed to one real timer: a longer one would fire at once. The wheel re-arms when it ends. */
const MAX_TIMER_MS = 2 ** 31 - 1;

interface Sleeper {
  /** Monotonic deadline: never woken before it. */
  at: number;
  /** Arrival order, for sleepers with the same deadline. */
  seq: number;
  wake: () => void;
}

/**
 * Every sleep of a clock, and one real timer for all of them, armed for the earliest deadline. When it fires,
 * every sleeper whose deadline has passed wakes, in deadline order; then it is armed again for what is left, or
 * not at all. Nothing runs while nothing is due.
 */
export class TimerWheel {
  private readonly sleepers = new Set<Sleeper>();
  private armed: { at: number; handle: unknown } | undefined;
  private seq = 0;

  constructor(private readonly host: TimerHost = realTimers) {}

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      if (signal?.aborted) return reject(signal.reason);
      const sleeper: Sleeper = { at: this.host.now() + Math.max(0, ms || 0), seq: this.seq++, wake: resolve };
      if (signal) {
        const onAbort = () => {
          if (!this.sleepers.delete(sleeper)) return; // already woken
          this.rearm();
          reject(signal.reason);
        };
        signal.addEventListener("abort", onAbort, { once: true });
        sleeper.wake = () => {
          signal.removeEventListener("abort", onAbort);
          resolve();
        };
      }
      this.sleepers.add(sleeper);
      if (!this.armed || sleeper.at < this.armed.at) this.arm(sleeper.at);
    });
  }

  /** Sleeps not yet woken or cancelled. */
  get pending(): number {
    return this.sleepers.size;
  }

  private fire(): void {
    this.armed = undefined;
    const now = this.host.now();
    const due: Sleeper[] = [];
    for (const sleeper of this.sleepers) if (sleeper.at <= now) due.push(sleeper);
    due.sort((a, b) => a.at - b.at || a.seq - b.seq);
    for (const sleeper of due) this.sleepers.delete(sleeper);
    for (const sleeper of due) sleeper.wake();
    this.rearm();
  }

  /** Arms the timer for the earliest deadline left, if it is not armed for exactly that already. */
  private rearm(): void {
    let earliest = Number.POSITIVE_INFINITY;
    for (const sleeper of this.sleepers) if (sleeper.at < earliest) earliest = sleeper.at;
    if (earliest === Number.POSITIVE_INFINITY) {
      if (this.armed) this.host.clearTimeout(this.armed.handle);
      this.armed = undefined;
    } else if (this.armed?.at !== earliest) this.arm(earliest);
  }

  private arm(at: number): void {
    if (this.armed) this.host.clearTimeout(this.armed.handle);
    // Whole milliseconds, rounded up: the runtime truncates a fraction and would fire early, for a second wake-up.
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, Math.ceil(at - this.host.now())));
    this.armed = { at, handle: this.host.setTimeout(() => this.fire(), delay) };
  }
}

/** A clock whose sleeps all go through `wheel`. */
export function wheelClock(wheel: TimerWheel = new TimerWheel()): Clock {
  return {
    now: () => Date.now(),
    monotonic: () => performance.now(),
    sleep: (ms, signal) => wheel.sleep(ms, signal),
  };
}

export const systemClock: Clock = wheelClock();

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
