-- The durable outbox (every console-bound request waits here until the console answers it) and a small
-- key/value table for remembered state such as console dialects. Never edit this file once released (its
-- sha256 is recorded in schema_migrations): add a new one. Times are INTEGER epoch ms UTC.

-- body and fallback are JSON text (NULL when absent); bytes is what the row counts against the size cap;
-- after_id names a row that must be delivered or dropped first (the fin waits for its ack), no foreign
-- key on purpose: "that row no longer exists" is exactly the condition that releases this one.
CREATE TABLE outbox (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  priority INTEGER NOT NULL,
  method TEXT NOT NULL,
  path TEXT NOT NULL,
  body TEXT,
  bytes INTEGER NOT NULL,
  timeout_ms INTEGER NOT NULL,
  after_id INTEGER,
  fallback TEXT,
  created_at INTEGER NOT NULL,
  attempts INTEGER NOT NULL,
  next_attempt_at INTEGER NOT NULL
) STRICT;
-- Serves "lowest priority number, then oldest" and its reverse (the row the size cap drops first).
CREATE INDEX outbox_priority_id_idx ON outbox (priority, id);

CREATE TABLE kv (
  key TEXT PRIMARY KEY NOT NULL,
  value TEXT NOT NULL
) STRICT;

-- Command ids received in the last hour (epoch ms UTC), so a command the console delivers twice runs once,
-- even across a restart in between.
CREATE TABLE seen_commands (
  id TEXT PRIMARY KEY NOT NULL,
  seen_at INTEGER NOT NULL
) STRICT;
