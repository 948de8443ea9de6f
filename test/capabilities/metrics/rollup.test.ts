// Hourly/daily roll-ups and retention on a real state DB with a ManualClock, across an hour and a day
// boundary: aligned periods, idempotent re-runs, one send per period, retention floors, WAL checkpoint.
// ZONE-DEPENDENT: periods are UTC hours and days, bodies UTC `…Z` text; test/tz/zone.test.ts runs this file
// under non-UTC zones too (under UTC a local-time hour or day looks the same).
import { describe, expect, test } from "bun:test";
import { cleanupCheck, effectiveRetention, pruneMetrics } from "../../../src/capabilities/metrics/checks/cleanup.ts";
import { dailyCheck, dailyPath } from "../../../src/capabilities/metrics/checks/daily.ts";
import { hourlyCheck, hourlyPath } from "../../../src/capabilities/metrics/checks/hourly.ts";
import { DAY_MS, HOUR_MS } from "../../../src/db/rollup.ts";
import { useMetricsHarness, type Harness } from "./harness.ts";

const harness = useMetricsHarness();
const noSignal = new AbortController().signal;
const T = (h: number, m = 0, s = 0, day = 1) => Date.UTC(2026, 0, day, h, m, s);

function cpu(h: Harness, at: number, usage: number) {
  h.state.sqlite.query('INSERT INTO cpu_samples ("timestamp", usage) VALUES (?1, ?2)').run(at, usage);
}
function disk(h: Harness, at: number, device: string, usage: number, total: number, used: number, free: number) {
  h.state.sqlite
    .query(
      'INSERT INTO disk_usage_samples ("timestamp", device, mount_point, usage, total, free, used) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)',
    )
    .run(at, device, "/", usage, total, free, used);
}
function io(h: Harness, at: number, device: string, read: number, write: number) {
  h.state.sqlite
    .query('INSERT INTO disk_io_samples ("timestamp", device, read_bps, write_bps) VALUES (?1, ?2, ?3, ?4)')
    .run(at, device, read, write);
}

describe("hourly roll-ups", () => {
  test("only complete UTC hours, aligned to the clock; a re-run inserts and sends nothing new", async () => {
    const h = harness(T(10, 59, 0));
    cpu(h, T(9, 59, 59), 90); // previous hour
    cpu(h, T(10, 0, 0), 10); // exactly at the hour start: belongs to 10:00
    cpu(h, T(10, 30), 30);
    cpu(h, T(10, 59, 59, 1) + 999, 20);
    const run = hourlyCheck(h.ctx, "cpu");
    run(noSignal);
    // 10:59: the 10:00 hour is not complete yet; only 09:00 is rolled up and sent.
    expect(h.state.sqlite.query('SELECT "timestamp", peak, avg FROM hourly_cpu').all()).toEqual([{ timestamp: T(9), peak: 90, avg: 90 }]);
    expect(h.bodies(hourlyPath("cpu"))).toEqual([[{ timestamp: new Date(T(10)).toISOString(), peak: 90, avg: 90 }]]);
    await h.clock.advance(65_000); // 11:00:05
    cpu(h, T(11, 0, 1), 100);
    run(noSignal);
    run(noSignal); // a re-run (retry, duplicate check) changes nothing
    expect(h.state.sqlite.query('SELECT "timestamp", peak, avg FROM hourly_cpu ORDER BY "timestamp"').all()).toEqual([
      { timestamp: T(9), peak: 90, avg: 90 },
      { timestamp: T(10), peak: 30, avg: 20 },
    ]);
    expect(h.bodies(hourlyPath("cpu"))).toEqual([
      [{ timestamp: new Date(T(10)).toISOString(), peak: 90, avg: 90 }],
      [{ timestamp: new Date(T(11)).toISOString(), peak: 30, avg: 20 }],
    ]);
  });

  test("an hour without samples gives no row (not a 0/0 row); devices are rolled up separately", async () => {
    const h = harness(T(12, 0, 5));
    io(h, T(10, 10), "sda", 100, 0);
    io(h, T(10, 20), "sda", 300, 0);
    io(h, T(10, 20), "nvme0n1", 0, 0);
    hourlyCheck(h.ctx, "disk-io")(noSignal);
    expect(h.bodies(hourlyPath("disk-io"))).toEqual([
      [
        {
          timestamp: new Date(T(11)).toISOString(),
          device: "nvme0n1",
          peak_read_bps: 0,
          peak_write_bps: 0,
          avg_read_bps: 0,
          avg_write_bps: 0,
        },
        {
          timestamp: new Date(T(11)).toISOString(),
          device: "sda",
          peak_read_bps: 300,
          peak_write_bps: 0,
          avg_read_bps: 200,
          avg_write_bps: 0,
        },
      ],
    ]);
    expect(h.state.sqlite.query("SELECT COUNT(*) AS n FROM hourly_disk_io").get()).toEqual({ n: 2 }); // 11:00 is empty
  });

  test("disk usage peak/avg use the stored (realtime) usage; sizes are the newest sample's", () => {
    const h = harness(T(11, 0, 5));
    disk(h, T(10, 0), "/dev/sda1", 40, 1000, 400, 500);
    disk(h, T(10, 30), "/dev/sda1", 60, 1000, 550, 400);
    hourlyCheck(h.ctx, "disk-usage")(noSignal);
    expect(h.bodies(hourlyPath("disk-usage"))).toEqual([
      [{ timestamp: new Date(T(11)).toISOString(), device: "/dev/sda1", peak: 60, avg: 50, total: 1000, free: 400, used: 550 }],
    ]);
  });
});

describe("daily roll-ups", () => {
  test("across a UTC day boundary: the finished day is summarised once, including its last hour", async () => {
    const h = harness(T(22, 30));
    cpu(h, T(22, 10), 10);
    cpu(h, T(23, 10), 50); // the last hour of the day, not yet rolled up by an hourly check
    const daily = dailyCheck(h.ctx, "cpu");
    daily(noSignal);
    expect(h.bodies(dailyPath("cpu"))).toEqual([]); // the day is not over
    await h.clock.advance(90 * 60_000 + 5_000); // 00:00:05 on Jan 2
    cpu(h, T(0, 0, 1, 2), 99);
    daily(noSignal);
    daily(noSignal);
    expect(h.bodies(dailyPath("cpu"))).toEqual([[{ timestamp: new Date(T(0, 0, 0, 2)).toISOString(), peak: 50, avg: 30 }]]);
    // The hourly check still sends both hours, once each.
    hourlyCheck(h.ctx, "cpu")(noSignal);
    expect(h.bodies(hourlyPath("cpu"))).toHaveLength(2);
  });

  test("daily disk usage per device with the newest sizes", async () => {
    const h = harness(T(0, 0, 5, 2));
    disk(h, T(3, 0), "/dev/sda1", 40, 1000, 400, 500);
    disk(h, T(20, 0), "/dev/sda1", 80, 1000, 750, 200);
    dailyCheck(h.ctx, "disk-usage")(noSignal);
    expect(h.bodies(dailyPath("disk-usage"))).toEqual([
      [{ timestamp: new Date(T(0, 0, 0, 2)).toISOString(), device: "/dev/sda1", peak: 80, avg: 60, total: 1000, free: 200, used: 750 }],
    ]);
  });
});

describe("daily roll-ups: the day is [00:00:00, 24:00:00) UTC", () => {
  // Samples at the first instant of the day (its 00:00 hour is the day's peak), mid-day, the last second of the
  // day, and the first instant of the next day (which must not count). Every family has its own daily SQL.
  const DAY = [
    { at: T(0, 0, 0), v: 90 },
    { at: T(12, 0, 0), v: 0 },
    { at: T(23, 59, 59) + 999, v: 60 },
  ];
  const NEXT_DAY = { at: T(0, 0, 0, 2), v: 100 };
  const end = new Date(T(0, 0, 0, 2)).toISOString();

  function insert(h: Harness, family: string, at: number, v: number) {
    const q = (sql: string, ...args: (string | number)[]) => h.state.sqlite.query(sql).run(...args);
    if (family === "cpu") cpu(h, at, v);
    else if (family === "memory") q('INSERT INTO memory_samples ("timestamp", usage) VALUES (?1, ?2)', at, v);
    else if (family === "disk-usage") disk(h, at, "/dev/sda1", v, 1000 + v, 10 * v, 1000 - 10 * v);
    else if (family === "disk-io") io(h, at, "sda", v, 2 * v);
    else
      q(
        'INSERT INTO traffic_samples ("timestamp", name, input_pps, input_bps, output_pps, output_bps) VALUES (?1, ?2, ?3, ?4, ?5, ?6)',
        at,
        "eth0",
        v,
        2 * v,
        3 * v,
        4 * v,
      );
  }

  const expected: Record<string, Record<string, number | string>> = {
    cpu: { timestamp: end, peak: 90, avg: 50 },
    memory: { timestamp: end, peak: 90, avg: 50 },
    // sizes are the newest sample's of the day (23:59:59.999), never the next day's
    "disk-usage": { timestamp: end, device: "/dev/sda1", peak: 90, avg: 50, total: 1060, free: 400, used: 600 },
    "disk-io": { timestamp: end, device: "sda", peak_read_bps: 90, peak_write_bps: 180, avg_read_bps: 50, avg_write_bps: 100 },
    traffic: {
      timestamp: end,
      name: "eth0",
      peak_input_pps: 90,
      peak_input_bps: 180,
      peak_output_pps: 270,
      peak_output_bps: 360,
      avg_input_pps: 50,
      avg_input_bps: 100,
      avg_output_pps: 150,
      avg_output_bps: 200,
    },
  };

  for (const family of ["cpu", "memory", "disk-usage", "disk-io", "traffic"] as const) {
    test(`${family}: the 00:00 hour (from exactly 00:00:00) and 23:59:59 are in the day; the next 00:00:00 is not`, () => {
      const h = harness(T(1, 0, 5, 2)); // the next day's 00:00 hour is complete and rolled up too
      for (const { at, v } of [...DAY, NEXT_DAY]) insert(h, family, at, v);
      dailyCheck(h.ctx, family)(noSignal);
      const hours = h.state.sqlite
        .query(
          `SELECT "timestamp" FROM ${family === "disk-usage" ? "hourly_disk_usage" : `hourly_${family.replace("-", "_")}`} ORDER BY "timestamp"`,
        )
        .all();
      expect(hours).toEqual([{ timestamp: T(0) }, { timestamp: T(12) }, { timestamp: T(23) }, { timestamp: T(0, 0, 0, 2) }]);
      expect(h.bodies(dailyPath(family))).toEqual([[expected[family]]]);
    });
  }
});

describe("retention", () => {
  test("the reference's windows are the floor; defaults keep one period more", () => {
    expect(effectiveRetention()).toEqual({ rawMs: 2 * HOUR_MS, hourlyMs: 2 * DAY_MS });
    expect(effectiveRetention({ rawMs: 60_000, hourlyMs: 3_600_000 })).toEqual({ rawMs: HOUR_MS, hourlyMs: DAY_MS });
    expect(effectiveRetention({ rawMs: 6 * HOUR_MS })).toEqual({ rawMs: 6 * HOUR_MS, hourlyMs: 2 * DAY_MS });
  });

  test("prunes old rows after rolling their hour up, then checkpoints the WAL", () => {
    const h = harness(T(12, 30));
    for (let m = 0; m < 60; m++) cpu(h, T(9, m), m); // 09:xx: older than 2 h
    cpu(h, T(11, 0), 5);
    h.state.sqlite.query('INSERT INTO hourly_cpu ("timestamp", peak, avg) VALUES (?1, 1, 1)').run(T(10) - 3 * DAY_MS);
    const deleted = pruneMetrics(h.ctx, effectiveRetention());
    expect(deleted).toBe(61);
    expect(h.state.sqlite.query('SELECT "timestamp" FROM cpu_samples').all()).toEqual([{ timestamp: T(11) }]);
    // 09:00 was summarised before its samples went; the 3-day-old hourly row is gone.
    expect(h.state.sqlite.query('SELECT "timestamp", peak FROM hourly_cpu ORDER BY "timestamp"').all()).toEqual([
      { timestamp: T(9), peak: 59 },
      { timestamp: T(11), peak: 5 },
    ]);
    const wal = h.state.sqlite.query("PRAGMA wal_checkpoint(PASSIVE)").get() as { log: number };
    expect(wal.log).toBe(0); // truncated by the clean-up's checkpoint
  });

  test("the cleanup check runs the same pruning", () => {
    const h = harness(T(12, 30));
    cpu(h, T(1), 1);
    cleanupCheck(h.ctx, effectiveRetention())(noSignal);
    expect(h.state.sqlite.query("SELECT COUNT(*) AS n FROM cpu_samples").get()).toEqual({ n: 0 });
  });
});
