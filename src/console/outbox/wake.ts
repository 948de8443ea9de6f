// How idle outbox senders sleep without polling: they park until woken (an enqueue, a settled row, stop)
// or until the one shared timer fires at the earliest backoff due time. Never keeps more than one timer.
import type { Clock } from "../../platform/clock.ts";

export class Wakeups {
  private sleepers = new Set<() => void>();
  private changeWaiters = new Set<() => void>();
  private timer: { at: number; abort: AbortController } | undefined;

  constructor(private readonly clock: Clock) {}

  /** Parks a sender until `wakeAll`. Register and decide in the same synchronous turn (no lost wake-up). */
  park(): Promise<void> {
    return new Promise<void>((resolve) => this.sleepers.add(resolve));
  }

  wakeAll(): void {
    const sleepers = this.sleepers;
    this.sleepers = new Set();
    for (const wake of sleepers) wake();
  }

  /** Makes sure the timer fires no later than `at` (monotonic ms); a later or equal timer is replaced. */
  arm(at: number): void {
    if (this.timer && this.timer.at <= at) return;
    this.disarm();
    const timer = { at, abort: new AbortController() };
    this.timer = timer;
    this.clock.sleep(Math.max(0, at - this.clock.monotonic()), timer.abort.signal).then(
      () => {
        if (this.timer === timer) this.timer = undefined;
        this.wakeAll();
      },
      () => {},
    );
  }

  disarm(): void {
    this.timer?.abort.abort();
    this.timer = undefined;
  }

  /** For drain: something changed (a row settled or arrived, or the senders stopped). */
  changed(): void {
    const waiters = this.changeWaiters;
    this.changeWaiters = new Set();
    for (const wake of waiters) wake();
  }

  /** Resolves at the next `changed()`, or after `ms`. */
  async nextChange(ms: number): Promise<void> {
    const timeout = new AbortController();
    let wake = () => {};
    const changed = new Promise<void>((resolve) => {
      wake = resolve;
      this.changeWaiters.add(resolve);
    });
    try {
      await Promise.race([changed, this.clock.sleep(ms, timeout.signal).catch(() => {})]);
    } finally {
      timeout.abort();
      this.changeWaiters.delete(wake);
    }
  }
}
