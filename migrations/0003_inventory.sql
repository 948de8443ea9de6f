-- Inventory sync bookkeeping: per commit key, the sha256 of the data last written to the console and when,
-- so an unchanged key is skipped until the periodic full re-sync. Never edit this file once released (its
-- sha256 is recorded in schema_migrations): add a new one. Times are INTEGER epoch ms UTC.
CREATE TABLE inventory_sync (
  key TEXT PRIMARY KEY NOT NULL,
  hash TEXT NOT NULL,
  synced_at INTEGER NOT NULL
) STRICT;
