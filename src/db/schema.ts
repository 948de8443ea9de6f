// Drizzle view of the tables that migrations/*.sql create; used for typed queries only.
// Never the source of truth and never used to generate SQL: test/db/schema.test.ts fails if it drifts.
import { sql } from "drizzle-orm";
import { check, index, integer, real, sqliteTable, text, unique } from "drizzle-orm/sqlite-core";

const HOUR_MS = 3_600_000;

// `timestamp` everywhere is epoch milliseconds UTC (a plain number, like Clock.now()).
const id = () => integer("id").primaryKey({ autoIncrement: true });
const timestamp = () => integer("timestamp").notNull();

export const cpuSamples = sqliteTable("cpu_samples", { id: id(), timestamp: timestamp(), usage: real("usage").notNull() }, (t) => [
  index("cpu_samples_timestamp_idx").on(t.timestamp),
]);

export const memorySamples = sqliteTable("memory_samples", { id: id(), timestamp: timestamp(), usage: real("usage").notNull() }, (t) => [
  index("memory_samples_timestamp_idx").on(t.timestamp),
]);

export const diskUsageSamples = sqliteTable(
  "disk_usage_samples",
  {
    id: id(),
    timestamp: timestamp(),
    device: text("device").notNull(),
    mountPoint: text("mount_point").notNull(),
    usage: real("usage").notNull(),
    total: integer("total").notNull(),
    free: integer("free").notNull(),
    used: integer("used").notNull(),
  },
  (t) => [index("disk_usage_samples_timestamp_idx").on(t.timestamp)],
);

/** Disk rates are BYTES per second. */
export const diskIoSamples = sqliteTable(
  "disk_io_samples",
  {
    id: id(),
    timestamp: timestamp(),
    device: text("device").notNull(),
    readBps: real("read_bps").notNull(),
    writeBps: real("write_bps").notNull(),
  },
  (t) => [index("disk_io_samples_timestamp_idx").on(t.timestamp)],
);

/** Traffic rates are BITS per second and packets per second. */
export const trafficSamples = sqliteTable(
  "traffic_samples",
  {
    id: id(),
    timestamp: timestamp(),
    name: text("name").notNull(),
    inputPps: real("input_pps").notNull(),
    inputBps: real("input_bps").notNull(),
    outputPps: real("output_pps").notNull(),
    outputBps: real("output_bps").notNull(),
  },
  (t) => [index("traffic_samples_timestamp_idx").on(t.timestamp)],
);

// Hourly tables: `timestamp` is the start of the UTC hour (a multiple of 3_600_000); the UNIQUE index
// makes a repeated roll-up for the same hour a conflict instead of a second row.

export const hourlyCpu = sqliteTable(
  "hourly_cpu",
  { id: id(), timestamp: timestamp(), peak: real("peak").notNull(), avg: real("avg").notNull() },
  (t) => [
    unique("hourly_cpu_period_unique").on(t.timestamp),
    check("hourly_cpu_hour_start", sql`${t.timestamp} % ${sql.raw(String(HOUR_MS))} = 0`),
  ],
);

export const hourlyMemory = sqliteTable(
  "hourly_memory",
  { id: id(), timestamp: timestamp(), peak: real("peak").notNull(), avg: real("avg").notNull() },
  (t) => [
    unique("hourly_memory_period_unique").on(t.timestamp),
    check("hourly_memory_hour_start", sql`${t.timestamp} % ${sql.raw(String(HOUR_MS))} = 0`),
  ],
);

export const hourlyDiskUsage = sqliteTable(
  "hourly_disk_usage",
  {
    id: id(),
    timestamp: timestamp(),
    device: text("device").notNull(),
    peak: real("peak").notNull(),
    avg: real("avg").notNull(),
    total: integer("total").notNull(),
    free: integer("free").notNull(),
    used: integer("used").notNull(),
  },
  (t) => [
    unique("hourly_disk_usage_period_unique").on(t.timestamp, t.device),
    check("hourly_disk_usage_hour_start", sql`${t.timestamp} % ${sql.raw(String(HOUR_MS))} = 0`),
  ],
);

/** Disk rates are BYTES per second. */
export const hourlyDiskIo = sqliteTable(
  "hourly_disk_io",
  {
    id: id(),
    timestamp: timestamp(),
    device: text("device").notNull(),
    peakReadBps: real("peak_read_bps").notNull(),
    peakWriteBps: real("peak_write_bps").notNull(),
    avgReadBps: real("avg_read_bps").notNull(),
    avgWriteBps: real("avg_write_bps").notNull(),
  },
  (t) => [
    unique("hourly_disk_io_period_unique").on(t.timestamp, t.device),
    check("hourly_disk_io_hour_start", sql`${t.timestamp} % ${sql.raw(String(HOUR_MS))} = 0`),
  ],
);

/** Traffic rates are BITS per second and packets per second. */
export const hourlyTraffic = sqliteTable(
  "hourly_traffic",
  {
    id: id(),
    timestamp: timestamp(),
    name: text("name").notNull(),
    peakInputPps: real("peak_input_pps").notNull(),
    peakInputBps: real("peak_input_bps").notNull(),
    peakOutputPps: real("peak_output_pps").notNull(),
    peakOutputBps: real("peak_output_bps").notNull(),
    avgInputPps: real("avg_input_pps").notNull(),
    avgInputBps: real("avg_input_bps").notNull(),
    avgOutputPps: real("avg_output_pps").notNull(),
    avgOutputBps: real("avg_output_bps").notNull(),
  },
  (t) => [
    unique("hourly_traffic_period_unique").on(t.timestamp, t.name),
    check("hourly_traffic_hour_start", sql`${t.timestamp} % ${sql.raw(String(HOUR_MS))} = 0`),
  ],
);

// The durable outbox (src/console/outbox.ts). body and fallback are JSON text; created_at and
// next_attempt_at are epoch ms UTC; after_id names a row that must be settled first (no foreign key: its
// absence is what releases this row).
export const outbox = sqliteTable(
  "outbox",
  {
    id: id(),
    priority: integer("priority").notNull(),
    method: text("method").notNull(),
    path: text("path").notNull(),
    body: text("body"),
    bytes: integer("bytes").notNull(),
    timeoutMs: integer("timeout_ms").notNull(),
    afterId: integer("after_id"),
    fallback: text("fallback"),
    createdAt: integer("created_at").notNull(),
    attempts: integer("attempts").notNull(),
    nextAttemptAt: integer("next_attempt_at").notNull(),
    /** Extra request headers, a JSON object of strings (X-Sync-Hash). */
    headers: text("headers"),
  },
  (t) => [index("outbox_priority_id_idx").on(t.priority, t.id)],
);

/** Small remembered state, e.g. `dialect:commands` = "fallback" once the console answered 404. */
export const kv = sqliteTable("kv", {
  key: text("key").primaryKey(),
  value: text("value").notNull(),
});

/** Command ids received in the last hour (de-duplication of resent commands). */
export const seenCommands = sqliteTable("seen_commands", {
  id: text("id").primaryKey(),
  seenAt: integer("seen_at").notNull(),
});

/** Inventory sync (src/capabilities/inventory/sync-state.ts): sha256 of each key's last synced data and when (epoch ms). */
export const inventorySync = sqliteTable("inventory_sync", {
  key: text("key").primaryKey(),
  hash: text("hash").notNull(),
  syncedAt: integer("synced_at").notNull(),
});
