// The timer wheel behind the system clock: one real timer for every sleep, armed for the earliest one, woken in
// deadline order, cancelled by signal, never woken early. Driven through an injected host whose timers only
// fire when the test moves its time; one test runs on real timers.
import { describe, expect, test } from "bun:test";
import { systemClock, type TimerHost, TimerWheel } from "../../src/platform/clock.ts";

/** Counts the real timers the wheel arms and fires them when `advance` passes their time. */
class FakeHost implements TimerHost {
  time = 0;
  armed = 0;
  fired = 0;
  private nextId = 0;
  readonly timers = new Map<number, { at: number; fire: () => void }>();

  setTimeout(fire: () => void, ms: number): unknown {
    this.armed++;
    const id = ++this.nextId;
    this.timers.set(id, { at: this.time + ms, fire });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.timers.delete(handle as number);
  }
  now(): number {
    return this.time;
  }
  /** Moves time forward, firing due timers in order and letting the woken code run after each. */
  async advance(ms: number): Promise<void> {
    const target = this.time + ms;
    for (;;) {
      let next: [number, { at: number; fire: () => void }] | undefined;
      for (const entry of this.timers) if (entry[1].at <= target && (!next || entry[1].at < next[1].at)) next = entry;
      if (!next) break;
      this.timers.delete(next[0]);
      this.time = next[1].at;
      this.fired++;
      next[1].fire();
      await flush();
    }
    this.time = target;
    await flush();
  }
}

async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
}

function setup() {
  const host = new FakeHost();
  return { host, wheel: new TimerWheel(host) };
}

describe("TimerWheel", () => {
  test("wakes sleepers in deadline order, equal deadlines in the order they came", async () => {
    const { host, wheel } = setup();
    const woken: string[] = [];
    const sleep = (name: string, ms: number) => void wheel.sleep(ms).then(() => woken.push(name));
    sleep("c", 30);
    sleep("a", 10);
    sleep("b1", 20);
    sleep("b2", 20);
    sleep("d", 40);
    await host.advance(9);
    expect(woken).toEqual([]);
    await host.advance(1);
    expect(woken).toEqual(["a"]);
    await host.advance(30);
    expect(woken).toEqual(["a", "b1", "b2", "c", "d"]);
    expect(wheel.pending).toBe(0);
    expect(host.timers.size).toBe(0); // nothing left armed once nothing is due
  });

  test("a sleeper woken late still comes after an earlier deadline that fired in the same turn", async () => {
    const { host, wheel } = setup();
    const woken: number[] = [];
    for (const ms of [50, 5, 25, 15]) void wheel.sleep(ms).then(() => woken.push(ms));
    const [timer] = [...host.timers.values()];
    host.timers.clear();
    host.time = 100; // the process was busy: every deadline passed before the timer could fire
    timer!.fire();
    await flush();
    expect(woken).toEqual([5, 15, 25, 50]);
    expect(host.timers.size).toBe(0);
  });

  test("many sleepers share one real timer", async () => {
    const { host, wheel } = setup();
    let woken = 0;
    for (let i = 1; i <= 1_000; i++) void wheel.sleep(i * 7).then(() => woken++);
    expect(host.timers.size).toBe(1);
    expect(host.armed).toBe(1); // added in deadline order: armed once, for the first
    let most = 0;
    for (let t = 0; t < 7_000; t += 100) {
      await host.advance(100);
      most = Math.max(most, host.timers.size);
    }
    expect(woken).toBe(1_000);
    expect(most).toBeLessThanOrEqual(1);
    expect(host.fired).toBe(1_000); // one firing per distinct deadline, none for nothing
  });

  test("an earlier sleep re-arms the one timer; a later one leaves it alone", async () => {
    const { host, wheel } = setup();
    void wheel.sleep(1_000);
    void wheel.sleep(2_000);
    expect(host.armed).toBe(1);
    void wheel.sleep(10);
    expect(host.armed).toBe(2);
    expect(host.timers.size).toBe(1);
    expect([...host.timers.values()][0]!.at).toBe(10);
  });

  test("cancelled by its signal: rejects with the reason, never wakes, and the timer moves to the next sleeper", async () => {
    const { host, wheel } = setup();
    const first = new AbortController();
    const woken: string[] = [];
    const cancelled = wheel.sleep(10, first.signal).then(
      () => woken.push("first"),
      (reason: unknown) => reason,
    );
    void wheel.sleep(50).then(() => woken.push("second"));
    first.abort(new Error("stopped"));
    expect(((await cancelled) as Error).message).toBe("stopped");
    expect(wheel.pending).toBe(1);
    expect(host.timers.size).toBe(1);
    expect([...host.timers.values()][0]!.at).toBe(50); // no wake-up at 10 for a sleeper that is gone
    await host.advance(100);
    expect(woken).toEqual(["second"]);
    expect(host.fired).toBe(1);
  });

  test("cancelling the last sleeper disarms the timer; an aborted signal rejects at once", async () => {
    const { host, wheel } = setup();
    const stop = new AbortController();
    const sleeping = wheel.sleep(1_000, stop.signal).catch(() => "cancelled");
    stop.abort();
    expect(await sleeping).toBe("cancelled");
    expect(host.timers.size).toBe(0);
    expect(await wheel.sleep(5, stop.signal).catch(() => "at once")).toBe("at once");
    expect(host.armed).toBe(1);
  });

  test("a timer that fires early wakes nobody and is armed again for the rest", async () => {
    const { host, wheel } = setup();
    let woken = false;
    void wheel.sleep(10.4).then(() => (woken = true));
    const [first] = [...host.timers.values()];
    expect(first!.at).toBe(11); // whole milliseconds, rounded up
    host.time = 10;
    host.timers.clear();
    first!.fire();
    await flush();
    expect(woken).toBe(false);
    expect(host.timers.size).toBe(1);
    await host.advance(1);
    expect(woken).toBe(true);
  });

  test("a sleep longer than one real timer can hold is re-armed until it is due", async () => {
    const { host, wheel } = setup();
    let woken = false;
    const month = 31 * 86_400_000;
    void wheel.sleep(month).then(() => (woken = true));
    expect([...host.timers.values()][0]!.at).toBe(2 ** 31 - 1);
    await host.advance(month - 1);
    expect(woken).toBe(false);
    await host.advance(1);
    expect(woken).toBe(true);
  });
});

describe("systemClock", () => {
  test("sleeps for real, never less than asked, and stops on abort", async () => {
    for (const ms of [1, 7.5, 20]) {
      const start = performance.now();
      await systemClock.sleep(ms);
      expect(performance.now() - start).toBeGreaterThanOrEqual(ms);
    }
    const stop = new AbortController();
    const sleeping = systemClock.sleep(60_000, stop.signal).catch((reason: unknown) => reason);
    stop.abort("bye");
    expect(await sleeping).toBe("bye");
  });
});
