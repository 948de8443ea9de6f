// The check scheduler on a ManualClock: fixed slots without drift, first-run policy, wall-clock alignment,
// single flight, retries with backoff that never pass the next slot, isolation of failures, stop.
import { describe, expect, test } from "bun:test";
import { LogHub, type LogRecord } from "../../../src/log/logger.ts";
import { ManualClock } from "../../../src/platform/clock.ts";
import { Scheduler, type ScheduledTask } from "../../../src/capabilities/metrics/scheduler.ts";

function setup(start = Date.UTC(2026, 0, 1, 10, 17, 0)) {
  const clock = new ManualClock(start);
  const records: LogRecord[] = [];
  const hub = new LogHub({ write: () => {}, close: () => {} }, "debug", () => clock.now());
  hub.listen((r) => records.push(r));
  const scheduler = new Scheduler({ clock, log: hub.logger("test") });
  return { clock, records, scheduler };
}

/** Lets pending promise chains settle without moving the clock. */
const settle = async () => {
  for (let i = 0; i < 20; i++) await Promise.resolve();
};

describe("Scheduler", () => {
  test("slots are origin + k × interval even when runs take time (no drift); first: now vs interval", async () => {
    const { clock, scheduler } = setup();
    const a: number[] = [];
    const b: number[] = [];
    const tasks: ScheduledTask[] = [
      {
        name: "slow",
        intervalMs: 5_000,
        first: "now",
        run: async (signal) => {
          a.push(clock.monotonic());
          await clock.sleep(1_300, signal); // each run takes 1.3 s
        },
      },
      { name: "later", intervalMs: 5_000, first: "interval", run: () => void b.push(clock.monotonic()) },
    ];
    scheduler.start(tasks);
    for (let i = 0; i < 40; i++) {
      await settle();
      await clock.advance(500);
    }
    await settle();
    expect(a).toEqual([0, 5_000, 10_000, 15_000, 20_000]);
    expect(b).toEqual([5_000, 10_000, 15_000, 20_000]);
    await scheduler.stop();
  });

  test("never runs a task twice at once: a run longer than the interval skips the missed slots", async () => {
    const { clock, scheduler } = setup();
    let running = 0;
    let peak = 0;
    const starts: number[] = [];
    scheduler.start([
      {
        name: "long",
        intervalMs: 1_000,
        first: "now",
        run: async (signal) => {
          starts.push(clock.monotonic());
          peak = Math.max(peak, ++running);
          await clock.sleep(2_500, signal).finally(() => running--);
        },
      },
    ]);
    for (let i = 0; i < 30; i++) {
      await settle();
      await clock.advance(250);
    }
    expect(peak).toBe(1);
    expect(starts).toEqual([0, 3_000, 6_000]);
    expect(scheduler.statsOf("long")!.skipped).toBeGreaterThanOrEqual(4);
    await scheduler.stop();
  });

  test("a failing run is retried after 1, 2, 4 s but never past the next slot; other tasks go on", async () => {
    const { clock, scheduler, records } = setup();
    const failing: number[] = [];
    const healthy: number[] = [];
    scheduler.start([
      {
        name: "bad",
        intervalMs: 10_000,
        first: "now",
        run: () => {
          failing.push(clock.monotonic());
          throw new Error("disk on fire");
        },
      },
      { name: "good", intervalMs: 2_000, first: "now", run: () => void healthy.push(clock.monotonic()) },
    ]);
    for (let i = 0; i < 48; i++) {
      await settle();
      await clock.advance(250);
    }
    // 0, +1 s, +2 s, +4 s → 7 s; the next retry (8 s) would pass the slot at 10 s, so it waits for it.
    expect(failing).toEqual([0, 1_000, 3_000, 7_000, 10_000, 11_000]);
    expect(healthy).toEqual([0, 2_000, 4_000, 6_000, 8_000, 10_000, 12_000]);
    const warns = records.filter((r) => r.level === "warn");
    expect(warns.length).toBe(1); // one per failure streak; the retries and later slots are debug
    expect(warns[0]!.fields).toMatchObject({ task: "bad", error: "disk on fire" });
    await scheduler.stop();
  });

  test("wall-aligned slots fall on clock multiples plus the offset; stop aborts a running task and waits", async () => {
    const { clock, scheduler } = setup(Date.UTC(2026, 0, 1, 10, 17, 0));
    const walls: number[] = [];
    let aborted = false;
    scheduler.start([
      {
        name: "hourly",
        intervalMs: 3_600_000,
        first: "now",
        wallOffsetMs: 5_000,
        run: async (signal) => {
          walls.push(clock.now());
          if (walls.length === 2) {
            await clock.sleep(60_000, signal).catch(() => {
              aborted = true;
            });
          }
        },
      },
    ]);
    await settle();
    await clock.advance(43 * 60_000 + 5_000); // 11:00:05
    await settle();
    expect(walls).toEqual([Date.UTC(2026, 0, 1, 10, 17, 0), Date.UTC(2026, 0, 1, 11, 0, 5)]);
    await scheduler.stop();
    expect(aborted).toBe(true);
    await clock.advance(3 * 3_600_000);
    await settle();
    expect(walls).toHaveLength(2); // nothing runs after stop
  });

  test("intervals longer than a timer can hold still wait the full interval; a recovered task says so once", async () => {
    const { clock, scheduler, records } = setup();
    const DAY = 86_400_000;
    const runs: number[] = [];
    let calls = 0;
    scheduler.start([
      { name: "rare", intervalMs: 40 * DAY, first: "interval", run: () => void runs.push(clock.monotonic()) },
      {
        name: "flaky",
        intervalMs: DAY,
        first: "now",
        run: () => {
          if (++calls <= 2) throw new Error("not yet");
        },
      },
    ]);
    for (let i = 0; i < 45; i++) {
      await settle();
      await clock.advance(DAY / 2);
      await settle();
      await clock.advance(DAY / 2);
    }
    await settle();
    expect(runs).toEqual([40 * DAY]);
    expect(records.filter((r) => r.fields.task === "flaky").map((r) => `${r.level} ${r.message}`)).toEqual([
      "warn metric check failed",
      "debug metric check failed again",
      "info metric check works again",
    ]);
    await scheduler.stop();
  });
});
