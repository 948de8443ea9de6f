-- Metric samples (5-second path) and their hourly roll-ups; names and units in src/db/README.md.
-- Never edit this file once released (its sha256 is recorded in schema_migrations): add a new one.
-- Timestamps are INTEGER epoch ms UTC; STRICT makes SQLite reject the reference's text timestamps.

CREATE TABLE cpu_samples (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  "timestamp" INTEGER NOT NULL,
  usage REAL NOT NULL
) STRICT;
CREATE INDEX cpu_samples_timestamp_idx ON cpu_samples ("timestamp");

CREATE TABLE memory_samples (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  "timestamp" INTEGER NOT NULL,
  usage REAL NOT NULL
) STRICT;
CREATE INDEX memory_samples_timestamp_idx ON memory_samples ("timestamp");

CREATE TABLE disk_usage_samples (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  "timestamp" INTEGER NOT NULL,
  device TEXT NOT NULL,
  mount_point TEXT NOT NULL,
  usage REAL NOT NULL,
  total INTEGER NOT NULL,
  free INTEGER NOT NULL,
  used INTEGER NOT NULL
) STRICT;
CREATE INDEX disk_usage_samples_timestamp_idx ON disk_usage_samples ("timestamp");

-- read_bps / write_bps are BYTES per second (wire names kept).
CREATE TABLE disk_io_samples (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  "timestamp" INTEGER NOT NULL,
  device TEXT NOT NULL,
  read_bps REAL NOT NULL,
  write_bps REAL NOT NULL
) STRICT;
CREATE INDEX disk_io_samples_timestamp_idx ON disk_io_samples ("timestamp");

-- *_bps are BITS per second, *_pps packets per second (wire names kept).
CREATE TABLE traffic_samples (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  "timestamp" INTEGER NOT NULL,
  name TEXT NOT NULL,
  input_pps REAL NOT NULL,
  input_bps REAL NOT NULL,
  output_pps REAL NOT NULL,
  output_bps REAL NOT NULL
) STRICT;
CREATE INDEX traffic_samples_timestamp_idx ON traffic_samples ("timestamp");

-- Hourly rows: "timestamp" is the start of the UTC hour they summarise, so UNIQUE(timestamp[, device|name])
-- makes re-running a roll-up idempotent (INSERT ... ON CONFLICT); that UNIQUE index leads with "timestamp"
-- and doubles as the timestamp index, so these tables get no separate one.
CREATE TABLE hourly_cpu (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  "timestamp" INTEGER NOT NULL,
  peak REAL NOT NULL,
  avg REAL NOT NULL,
  CONSTRAINT hourly_cpu_period_unique UNIQUE ("timestamp"),
  CONSTRAINT hourly_cpu_hour_start CHECK ("timestamp" % 3600000 = 0)
) STRICT;

CREATE TABLE hourly_memory (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  "timestamp" INTEGER NOT NULL,
  peak REAL NOT NULL,
  avg REAL NOT NULL,
  CONSTRAINT hourly_memory_period_unique UNIQUE ("timestamp"),
  CONSTRAINT hourly_memory_hour_start CHECK ("timestamp" % 3600000 = 0)
) STRICT;

CREATE TABLE hourly_disk_usage (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  "timestamp" INTEGER NOT NULL,
  device TEXT NOT NULL,
  peak REAL NOT NULL,
  avg REAL NOT NULL,
  total INTEGER NOT NULL,
  free INTEGER NOT NULL,
  used INTEGER NOT NULL,
  CONSTRAINT hourly_disk_usage_period_unique UNIQUE ("timestamp", device),
  CONSTRAINT hourly_disk_usage_hour_start CHECK ("timestamp" % 3600000 = 0)
) STRICT;

CREATE TABLE hourly_disk_io (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  "timestamp" INTEGER NOT NULL,
  device TEXT NOT NULL,
  peak_read_bps REAL NOT NULL,
  peak_write_bps REAL NOT NULL,
  avg_read_bps REAL NOT NULL,
  avg_write_bps REAL NOT NULL,
  CONSTRAINT hourly_disk_io_period_unique UNIQUE ("timestamp", device),
  CONSTRAINT hourly_disk_io_hour_start CHECK ("timestamp" % 3600000 = 0)
) STRICT;

CREATE TABLE hourly_traffic (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  "timestamp" INTEGER NOT NULL,
  name TEXT NOT NULL,
  peak_input_pps REAL NOT NULL,
  peak_input_bps REAL NOT NULL,
  peak_output_pps REAL NOT NULL,
  peak_output_bps REAL NOT NULL,
  avg_input_pps REAL NOT NULL,
  avg_input_bps REAL NOT NULL,
  avg_output_pps REAL NOT NULL,
  avg_output_bps REAL NOT NULL,
  CONSTRAINT hourly_traffic_period_unique UNIQUE ("timestamp", name),
  CONSTRAINT hourly_traffic_hour_start CHECK ("timestamp" % 3600000 = 0)
) STRICT;
