-- Extra request headers of an outbox row, as a JSON object of strings (NULL when none): the inventory's
-- X-Sync-Hash on every sync write (upstream-2026.md §5.2). Never edit this file once released (its sha256 is
-- recorded in schema_migrations): add a new one.
ALTER TABLE outbox ADD COLUMN headers TEXT;
