// Event-driven waits for the fake console: a condition is re-checked whenever the console records something,
// so tests wait exactly as long as needed. Never polls; every timer is tracked and cleared by failAll().

interface Waiter {
  check: () => boolean;
  fail: (err: Error) => void;
}

export class Waits {
  private readonly waiters = new Set<Waiter>();
  private readonly timers = new Set<ReturnType<typeof setTimeout>>();
  private closed = false;

  constructor(private readonly describe: () => string = () => "") {}

  /** Resolves with check()'s first truthy value; rejects after timeoutMs, or when check() throws. */
  until<T>(check: () => T | undefined | null | false, timeoutMs: number, what: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const attempt = (): T | undefined | null | false | Error => {
        try {
          return check();
        } catch (err) {
          return err instanceof Error ? err : new Error(String(err));
        }
      };
      const first = attempt();
      if (first instanceof Error) return reject(first);
      if (first) return resolve(first);
      if (this.closed) return reject(new Error(`fake console stopped while waiting for ${what}`));
      const timer = this.timer(timeoutMs, () => {
        this.waiters.delete(waiter);
        const context = this.describe();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}${context ? `\n${context}` : ""}`));
      });
      const waiter: Waiter = {
        check: () => {
          const value = attempt();
          if (!value) return false;
          this.cancel(timer);
          if (value instanceof Error) reject(value);
          else resolve(value);
          return true;
        },
        fail: (err) => {
          this.cancel(timer);
          reject(err);
        },
      };
      this.waiters.add(waiter);
    });
  }

  /** Re-checks every pending wait; call after each recorded event. */
  notify(): void {
    for (const waiter of [...this.waiters]) {
      if (waiter.check()) this.waiters.delete(waiter);
    }
  }

  /** A tracked timeout (cleared by failAll). */
  timer(ms: number, fn: () => void): ReturnType<typeof setTimeout> {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    this.timers.add(timer);
    return timer;
  }

  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.timer(ms, resolve));
  }

  /** Rejects every pending wait and clears every timer (pending sleeps never resolve). */
  failAll(reason: string): void {
    this.closed = true;
    for (const waiter of this.waiters) waiter.fail(new Error(reason));
    this.waiters.clear();
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
  }

  private cancel(timer: ReturnType<typeof setTimeout>): void {
    clearTimeout(timer);
    this.timers.delete(timer);
  }
}

/**
 * Polls check() every few ms until it is truthy (an asynchronous check is awaited): for conditions the fake
 * console cannot observe (the agent's own state, log records). Prefer FakeConsole.waitUntil for anything the
 * console records.
 */
export async function eventually<T>(
  check: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  timeoutMs = 5_000,
  what = "a condition",
): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (performance.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await Bun.sleep(5);
  }
}
