// The one way the metrics capability reads and writes the state database: drizzle prepared statements for the
// sample tables (the per-cycle inserts built by drizzle but bound natively, `positional`), the senders' window
// aggregates, the "sent up to" marks and the retention prune; the roll-ups themselves are in rollup.ts.
// Statements are prepared on first use and reused; never holds a handle of its own beyond the StateDb it was
// built from (the composition root owns and closes that).
import { and, asc, eq, gt, lt, lte, max, sql, type SQL } from "drizzle-orm";
import type { SQLiteColumn } from "drizzle-orm/sqlite-core";
import type { StateDb } from "./open.ts";
import { changes, immediateTransaction, lazy, positional } from "./prepared.ts";
import { FAMILIES, dailyRows, hourlyRowsAfter, pendingDays, rollupHours, type Family, type Row } from "./rollup.ts";
import {
  cpuSamples,
  diskIoSamples,
  diskUsageSamples,
  hourlyCpu,
  hourlyDiskIo,
  hourlyDiskUsage,
  hourlyMemory,
  hourlyTraffic,
  kv,
  memorySamples,
  outbox,
  trafficSamples,
} from "./schema.ts";

const FAMILY_TABLES = {
  cpu: { raw: cpuSamples, hourly: hourlyCpu },
  memory: { raw: memorySamples, hourly: hourlyMemory },
  "disk-usage": { raw: diskUsageSamples, hourly: hourlyDiskUsage },
  "disk-io": { raw: diskIoSamples, hourly: hourlyDiskIo },
  traffic: { raw: trafficSamples, hourly: hourlyTraffic },
} as const satisfies Record<Family, unknown>;

export interface DiskUsageSample {
  device: string;
  mountPoint: string;
  usage: number;
  total: number;
  free: number;
  used: number;
}

export interface DiskIoSample {
  device: string;
  /** Bytes per second. */
  readBps: number;
  writeBps: number;
}

export interface TrafficSample {
  name: string;
  /** Bits per second and packets per second. */
  inputBps: number;
  outputBps: number;
  inputPps: number;
  outputPps: number;
}

/** One timestamp's samples of every family; absent sections are simply not written. */
export interface SampleSet {
  cpu?: number;
  memory?: number;
  diskUsage?: readonly DiskUsageSample[];
  diskIo?: readonly DiskIoSample[];
  traffic?: readonly TrafficSample[];
}

export interface MetricsStore {
  /** Writes every section of `set` under one timestamp (epoch ms UTC), in one BEGIN IMMEDIATE transaction. */
  record(timestamp: number, set: SampleSet): void;
  /** Writes several timestamps' sets in one BEGIN IMMEDIATE transaction (all or none). */
  recordMany(samples: readonly { timestamp: number; set: SampleSet }[]): void;
  /** Peak and average bytes/s per disk of the samples in (start, end], wire-named columns, by device. */
  diskIoWindow(start: number, end: number): Row[];
  /** Peak and average traffic per interface of the samples in (start, end], wire-named columns, by name. */
  trafficWindow(start: number, end: number): Row[];
  /** True while the outbox still holds row `id` (not yet delivered or dropped). */
  queued(id: number): boolean;
  /** A kv value as a safe integer, or -1 when missing or not one. */
  readMark(key: string): number;
  writeMark(key: string, value: number): void;
  rollupHours(family: Family, now: number): number;
  hourlyRowsAfter(family: Family, after: number, now: number): Row[];
  pendingDays(family: Family, after: number, now: number): number[];
  dailyRows(family: Family, day: number): Row[];
  /**
   * Rolls complete hours up (so pruning never loses an unsummarised hour) and deletes raw rows older than
   * `rawBefore` and hourly rows older than `hourlyBefore`, in one transaction. Returns the rows deleted.
   */
  prune(now: number, rawBefore: number, hourlyBefore: number): number;
}

const p = sql.placeholder;
const avg = (column: SQLiteColumn): SQL<number> => sql<number>`avg(${column})`;

export function createMetricsStore(state: Pick<StateDb, "db" | "sqlite">): MetricsStore {
  const { db, sqlite } = state;
  const immediate = immediateTransaction(sqlite);

  // The sample inserts run every cycle: bound natively, in the order given (see `positional`).
  const insertCpu = lazy(() =>
    positional(sqlite, db.insert(cpuSamples).values({ timestamp: p("timestamp"), usage: p("usage") }), ["timestamp", "usage"]),
  );
  const insertMemory = lazy(() =>
    positional(sqlite, db.insert(memorySamples).values({ timestamp: p("timestamp"), usage: p("usage") }), ["timestamp", "usage"]),
  );
  const insertDiskUsage = lazy(() =>
    positional(
      sqlite,
      db.insert(diskUsageSamples).values({
        timestamp: p("timestamp"),
        device: p("device"),
        mountPoint: p("mountPoint"),
        usage: p("usage"),
        total: p("total"),
        free: p("free"),
        used: p("used"),
      }),
      ["timestamp", "device", "mountPoint", "usage", "total", "free", "used"],
    ),
  );
  const insertDiskIo = lazy(() =>
    positional(
      sqlite,
      db.insert(diskIoSamples).values({ timestamp: p("timestamp"), device: p("device"), readBps: p("readBps"), writeBps: p("writeBps") }),
      ["timestamp", "device", "readBps", "writeBps"],
    ),
  );
  const insertTraffic = lazy(() =>
    positional(
      sqlite,
      db.insert(trafficSamples).values({
        timestamp: p("timestamp"),
        name: p("name"),
        inputPps: p("inputPps"),
        inputBps: p("inputBps"),
        outputPps: p("outputPps"),
        outputBps: p("outputBps"),
      }),
      ["timestamp", "name", "inputPps", "inputBps", "outputPps", "outputBps"],
    ),
  );

  // Key order is the wire body's field order.
  const diskIoWindow = lazy(() =>
    db
      .select({
        device: diskIoSamples.device,
        peak_write_bps: max(diskIoSamples.writeBps),
        peak_read_bps: max(diskIoSamples.readBps),
        avg_write_bps: avg(diskIoSamples.writeBps),
        avg_read_bps: avg(diskIoSamples.readBps),
      })
      .from(diskIoSamples)
      .where(and(gt(diskIoSamples.timestamp, p("start")), lte(diskIoSamples.timestamp, p("end"))))
      .groupBy(diskIoSamples.device)
      .orderBy(asc(diskIoSamples.device))
      .prepare(),
  );
  const trafficWindow = lazy(() =>
    db
      .select({
        name: trafficSamples.name,
        peak_input_pps: max(trafficSamples.inputPps),
        peak_input_bps: max(trafficSamples.inputBps),
        peak_output_pps: max(trafficSamples.outputPps),
        peak_output_bps: max(trafficSamples.outputBps),
        avg_input_pps: avg(trafficSamples.inputPps),
        avg_input_bps: avg(trafficSamples.inputBps),
        avg_output_pps: avg(trafficSamples.outputPps),
        avg_output_bps: avg(trafficSamples.outputBps),
      })
      .from(trafficSamples)
      .where(and(gt(trafficSamples.timestamp, p("start")), lte(trafficSamples.timestamp, p("end"))))
      .groupBy(trafficSamples.name)
      .orderBy(asc(trafficSamples.name))
      .prepare(),
  );

  const selectQueued = lazy(() =>
    db
      .select({ id: outbox.id })
      .from(outbox)
      .where(eq(outbox.id, p("id")))
      .prepare(),
  );
  const selectKv = lazy(() =>
    db
      .select({ value: kv.value })
      .from(kv)
      .where(eq(kv.key, p("key")))
      .prepare(),
  );
  const upsertKv = lazy(() =>
    db
      .insert(kv)
      .values({ key: p("key"), value: p("value") })
      .onConflictDoUpdate({ target: kv.key, set: { value: sql`excluded.value` } })
      .prepare(),
  );
  const deleteOlder = (table: (typeof FAMILY_TABLES)[Family]["raw" | "hourly"]) =>
    lazy(() =>
      db
        .delete(table)
        .where(lt(table.timestamp, p("before")))
        .prepare(),
    );
  const deletes = FAMILIES.map((family) => ({
    family,
    raw: deleteOlder(FAMILY_TABLES[family].raw),
    hourly: deleteOlder(FAMILY_TABLES[family].hourly),
  }));

  const insertSet = (timestamp: number, set: SampleSet): void => {
    if (set.cpu !== undefined) insertCpu().run(timestamp, set.cpu);
    if (set.memory !== undefined) insertMemory().run(timestamp, set.memory);
    for (const d of set.diskUsage ?? []) insertDiskUsage().run(timestamp, d.device, d.mountPoint, d.usage, d.total, d.free, d.used);
    for (const d of set.diskIo ?? []) insertDiskIo().run(timestamp, d.device, d.readBps, d.writeBps);
    for (const t of set.traffic ?? []) insertTraffic().run(timestamp, t.name, t.inputPps, t.inputBps, t.outputPps, t.outputBps);
  };

  return {
    record(timestamp, set) {
      immediate(() => insertSet(timestamp, set));
    },
    recordMany(samples) {
      if (samples.length === 0) return;
      immediate(() => {
        for (const { timestamp, set } of samples) insertSet(timestamp, set);
      });
    },
    diskIoWindow: (start, end) => diskIoWindow().all({ start, end }) as Row[],
    trafficWindow: (start, end) => trafficWindow().all({ start, end }) as Row[],
    queued: (id) => selectQueued().get({ id }) !== undefined,
    readMark(key) {
      const row = selectKv().get({ key });
      const value = row ? Number(row.value) : Number.NaN;
      return Number.isSafeInteger(value) ? value : -1;
    },
    writeMark(key, value) {
      upsertKv().run({ key, value: String(value) });
    },
    rollupHours: (family, now) => rollupHours(sqlite, family, now),
    hourlyRowsAfter: (family, after, now) => hourlyRowsAfter(sqlite, family, after, now),
    pendingDays: (family, after, now) => pendingDays(sqlite, family, after, now),
    dailyRows: (family, day) => dailyRows(sqlite, family, day),
    prune(now, rawBefore, hourlyBefore) {
      let deleted = 0;
      immediate(() => {
        for (const { family, raw, hourly } of deletes) {
          rollupHours(sqlite, family, now);
          deleted += changes(raw().run({ before: rawBefore }));
          deleted += changes(hourly().run({ before: hourlyBefore }));
        }
      });
      return deleted;
    },
  };
}
