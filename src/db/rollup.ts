// Hourly and daily roll-ups in SQL: raw samples → one row per UTC hour (and device/interface), hourly rows →
// one summary per UTC day. Idempotent: hourly rows are INSERT … ON CONFLICT DO NOTHING on the UNIQUE period,
// and only complete periods (ending at or before `before`) are ever rolled up. Never deletes anything.
// The one place outside migrations that keeps SQL text: INSERT … SELECT … GROUP BY … ON CONFLICT and the
// ROW_NUMBER() window of the disk-usage roll-up have no drizzle builder form (they would be sql`` fragments,
// i.e. the same text with more layers). Each statement is compiled for its run and let go (`runOnce`): they run
// once an hour or a day, and twenty of them kept compiled would hold SQLite memory for nothing in between.
import type { Database } from "bun:sqlite";
import { runOnce } from "./prepared.ts";

export const HOUR_MS = 3_600_000;
export const DAY_MS = 86_400_000;

export type Family = "cpu" | "memory" | "disk-usage" | "disk-io" | "traffic";
export const FAMILIES: readonly Family[] = ["cpu", "memory", "disk-usage", "disk-io", "traffic"];

interface FamilySql {
  raw: string;
  hourly: string;
  /** Rolls raw rows of every complete hour before ?1 into the hourly table. */
  rollup: string;
  /** Hourly rows with period start in (?1, ?2), wire-named columns plus "timestamp" (period start). */
  hourlyRows: string;
  /** The day [?1, ?2) summarised from hourly rows, wire-named columns; no rows when the day is empty. */
  dailyRows: string;
}

const hourOf = `("timestamp" / ${HOUR_MS}) * ${HOUR_MS}`;

function single(raw: string, hourly: string): FamilySql {
  return {
    raw,
    hourly,
    rollup: `INSERT INTO ${hourly} ("timestamp", peak, avg)
      SELECT ${hourOf} AS h, MAX(usage), AVG(usage) FROM ${raw} WHERE "timestamp" < ?1 GROUP BY h
      ON CONFLICT DO NOTHING`,
    hourlyRows: `SELECT "timestamp", peak, avg FROM ${hourly} WHERE "timestamp" > ?1 AND "timestamp" < ?2 ORDER BY "timestamp"`,
    dailyRows: `SELECT MAX(peak) AS peak, AVG(avg) AS avg FROM ${hourly}
      WHERE "timestamp" >= ?1 AND "timestamp" < ?2 HAVING COUNT(*) > 0`,
  };
}

const IO = ["read_bps", "write_bps"];
const TRAFFIC = ["input_pps", "input_bps", "output_pps", "output_bps"];

function keyed(raw: string, hourly: string, key: string, columns: string[]): FamilySql {
  const peaks = columns.map((c) => `peak_${c}`);
  const avgs = columns.map((c) => `avg_${c}`);
  return {
    raw,
    hourly,
    rollup: `INSERT INTO ${hourly} ("timestamp", ${key}, ${[...peaks, ...avgs].join(", ")})
      SELECT ${hourOf} AS h, ${key}, ${[...columns.map((c) => `MAX(${c})`), ...columns.map((c) => `AVG(${c})`)].join(", ")}
      FROM ${raw} WHERE "timestamp" < ?1 GROUP BY h, ${key}
      ON CONFLICT DO NOTHING`,
    hourlyRows: `SELECT "timestamp", ${key}, ${[...peaks, ...avgs].join(", ")} FROM ${hourly}
      WHERE "timestamp" > ?1 AND "timestamp" < ?2 ORDER BY "timestamp", ${key}`,
    dailyRows: `SELECT ${key}, ${[...peaks.map((c) => `MAX(${c}) AS ${c}`), ...avgs.map((c) => `AVG(${c}) AS ${c}`)].join(", ")}
      FROM ${hourly} WHERE "timestamp" >= ?1 AND "timestamp" < ?2 GROUP BY ${key} ORDER BY ${key}`,
  };
}

// Disk usage: peak/avg of the stored usage column (the realtime definition, used/(used+avail)), and the
// sizes of the newest sample of the period.
const DISK_USAGE: FamilySql = {
  raw: "disk_usage_samples",
  hourly: "hourly_disk_usage",
  rollup: `INSERT INTO hourly_disk_usage ("timestamp", device, peak, avg, total, free, used)
    SELECT h, device, MAX(usage), AVG(usage),
           MAX(CASE WHEN rn = 1 THEN total END), MAX(CASE WHEN rn = 1 THEN free END), MAX(CASE WHEN rn = 1 THEN used END)
    FROM (SELECT ${hourOf} AS h, device, usage, total, free, used,
                 ROW_NUMBER() OVER (PARTITION BY ${hourOf}, device ORDER BY "timestamp" DESC, id DESC) AS rn
          FROM disk_usage_samples WHERE "timestamp" < ?1)
    WHERE true GROUP BY h, device
    ON CONFLICT DO NOTHING`,
  hourlyRows: `SELECT "timestamp", device, peak, avg, total, free, used FROM hourly_disk_usage
    WHERE "timestamp" > ?1 AND "timestamp" < ?2 ORDER BY "timestamp", device`,
  dailyRows: `SELECT device, MAX(peak) AS peak, AVG(avg) AS avg,
           MAX(CASE WHEN rn = 1 THEN total END) AS total, MAX(CASE WHEN rn = 1 THEN free END) AS free,
           MAX(CASE WHEN rn = 1 THEN used END) AS used
    FROM (SELECT device, peak, avg, total, free, used,
                 ROW_NUMBER() OVER (PARTITION BY device ORDER BY "timestamp" DESC) AS rn
          FROM hourly_disk_usage WHERE "timestamp" >= ?1 AND "timestamp" < ?2)
    GROUP BY device ORDER BY device`,
};

export const FAMILY_SQL: Readonly<Record<Family, FamilySql>> = {
  cpu: single("cpu_samples", "hourly_cpu"),
  memory: single("memory_samples", "hourly_memory"),
  "disk-usage": DISK_USAGE,
  "disk-io": keyed("disk_io_samples", "hourly_disk_io", "device", IO),
  traffic: keyed("traffic_samples", "hourly_traffic", "name", TRAFFIC),
};

/** Start of the UTC hour / day containing `ms`. */
export const hourStart = (ms: number) => Math.floor(ms / HOUR_MS) * HOUR_MS;
export const dayStart = (ms: number) => Math.floor(ms / DAY_MS) * DAY_MS;

/** Rolls every complete hour before `now`'s hour into the hourly table; returns the rows it inserted. */
export function rollupHours(sqlite: Database, family: Family, now: number): number {
  return runOnce(sqlite, FAMILY_SQL[family].rollup, (s) => s.run(hourStart(now)).changes);
}

export type Row = Record<string, number | string>;

/** Hourly rows (each with its period start as `timestamp`) of complete hours after `after`, before now's hour. */
export function hourlyRowsAfter(sqlite: Database, family: Family, after: number, now: number): Row[] {
  return runOnce(sqlite, FAMILY_SQL[family].hourlyRows, (s) => s.all(after, hourStart(now)) as Row[]);
}

/** Starts of the complete UTC days after `after` (and before now's day) that have hourly rows. */
export function pendingDays(sqlite: Database, family: Family, after: number, now: number): number[] {
  const rows = runOnce(
    sqlite,
    `SELECT DISTINCT ("timestamp" / ${DAY_MS}) * ${DAY_MS} AS d FROM ${FAMILY_SQL[family].hourly}
     WHERE "timestamp" < ?1 ORDER BY d`,
    (s) => s.all(dayStart(now)) as { d: number }[],
  );
  return rows.map((r) => r.d).filter((d) => d > after);
}

/** The summary of one UTC day from the hourly table (one row, or one per device/interface). */
export function dailyRows(sqlite: Database, family: Family, day: number): Row[] {
  return runOnce(sqlite, FAMILY_SQL[family].dailyRows, (s) => s.all(day, day + DAY_MS) as Row[]);
}
