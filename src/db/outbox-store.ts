// SQL for the durable outbox and the kv table (migrations/0001_outbox.sql): insert, read, reschedule,
// delete, pick the row the size cap drops. Never decides anything (src/console/outbox.ts does) and never
// writes outside a BEGIN IMMEDIATE transaction, because another process may write the same file.
import type { Database } from "bun:sqlite";
import { immediateTransaction } from "./prepared.ts";

/** The HTTP methods an outbox row may carry (console/http.ts names them HttpMethod). */
export type RequestMethod = "GET" | "POST" | "PUT" | "PATCH" | "DELETE";

/** The 2024 form of a request, sent when the console answers the primary form with 404. */
export interface StoredFallback {
  dialect: string;
  method: RequestMethod;
  path: string;
  /** The body exactly as it will be sent (JSON text), or null for none (or when it merges). */
  body: string | null;
  /** Fields added to the primary body to make this one's (outbox-item.ts fallbackForm). */
  merge?: Record<string, unknown>;
  /** Nothing is sent instead: the row is dropped quietly (a request the older console has no form of). */
  drop?: true;
  /** Statuses of the primary form that switch to this one; absent means [404]. */
  on?: number[];
}

export interface NewRow {
  priority: number;
  method: RequestMethod;
  path: string;
  body: string | null;
  bytes: number;
  timeoutMs: number;
  afterId: number | null;
  fallback: StoredFallback | null;
  /** Extra request headers (X-Sync-Hash); absent or null for none. */
  headers?: Record<string, string> | null;
}

export interface OutboxRow extends NewRow {
  id: number;
  attempts: number;
  nextAttemptAt: number;
}

/** What the scheduler needs of every row; loaded once per Outbox. */
export interface RowMeta {
  id: number;
  priority: number;
  afterId: number | null;
  bytes: number;
  nextAttemptAt: number;
}

export interface DeletedRow {
  id: number;
  method: RequestMethod;
  path: string;
  bytes: number;
}

interface RawRow {
  id: number;
  priority: number;
  method: string;
  path: string;
  body: string | null;
  bytes: number;
  timeout_ms: number;
  after_id: number | null;
  fallback: string | null;
  headers: string | null;
  attempts: number;
  next_attempt_at: number;
}

export class OutboxStore {
  private readonly transaction: <T>(work: () => T) => T;

  constructor(private readonly sqlite: Database) {
    this.transaction = immediateTransaction(sqlite);
  }

  /** Runs `work` in one BEGIN IMMEDIATE transaction (the write lock is taken before anything is read). */
  immediate<T>(work: () => T): T {
    return this.transaction(work);
  }

  /** Call inside `immediate`. */
  insert(row: NewRow, now: number): number {
    const inserted = this.sqlite
      .query(
        `INSERT INTO outbox (priority, method, path, body, bytes, timeout_ms, after_id, fallback, created_at, attempts, next_attempt_at, headers)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, 0, ?9, ?10) RETURNING id`,
      )
      .get(
        row.priority,
        row.method,
        row.path,
        row.body,
        row.bytes,
        row.timeoutMs,
        row.afterId,
        row.fallback ? JSON.stringify(row.fallback) : null,
        now,
        row.headers ? JSON.stringify(row.headers) : null,
      ) as { id: number };
    return inserted.id;
  }

  get(id: number): OutboxRow | undefined {
    const raw = this.sqlite.query("SELECT * FROM outbox WHERE id = ?1").get(id) as RawRow | null;
    if (!raw) return undefined;
    return {
      id: raw.id,
      priority: raw.priority,
      method: raw.method as RequestMethod,
      path: raw.path,
      body: raw.body,
      bytes: raw.bytes,
      timeoutMs: raw.timeout_ms,
      afterId: raw.after_id,
      fallback: parseFallback(raw.fallback),
      headers: parseHeaders(raw.headers),
      attempts: raw.attempts,
      nextAttemptAt: raw.next_attempt_at,
    };
  }

  /** Every row's scheduling data, oldest first. */
  loadMeta(): RowMeta[] {
    return this.sqlite
      .query(`SELECT id, priority, after_id AS afterId, bytes, next_attempt_at AS nextAttemptAt FROM outbox ORDER BY id`)
      .all() as RowMeta[];
  }

  delete(id: number): DeletedRow | undefined {
    return this.immediate(
      () =>
        (this.sqlite.query("DELETE FROM outbox WHERE id = ?1 RETURNING id, method, path, bytes").get(id) as DeletedRow | null) ?? undefined,
    );
  }

  reschedule(id: number, attempts: number, nextAttemptAt: number): void {
    this.immediate(() => {
      this.sqlite.query("UPDATE outbox SET attempts = ?2, next_attempt_at = ?3 WHERE id = ?1").run(id, attempts, nextAttemptAt);
    });
  }

  /**
   * The row the size cap drops first: the highest priority number, then the oldest, skipping rows in
   * flight and rows of priority `keep` or lower (never dropped). Both steps walk outbox_priority_id_idx, so
   * this stays cheap with a full table.
   */
  pickVictim(inflight: (id: number) => boolean, inflightCount: number, keep: number): { id: number } | undefined {
    let below = Number.MAX_SAFE_INTEGER;
    for (;;) {
      const top = this.sqlite.query("SELECT max(priority) AS p FROM outbox WHERE priority < ?1 AND priority > ?2").get(below, keep) as {
        p: number | null;
      };
      if (top.p === null) return undefined;
      // In-flight rows are at most `inflightCount`, so one more row than that always holds a candidate.
      const rows = this.sqlite.query("SELECT id FROM outbox WHERE priority = ?1 ORDER BY id LIMIT ?2").all(top.p, inflightCount + 1) as {
        id: number;
      }[];
      const victim = rows.find((r) => !inflight(r.id));
      if (victim) return victim;
      below = top.p;
    }
  }

  /** kv rows whose key starts with `prefix`, with the prefix removed. */
  readKv(prefix: string): Map<string, string> {
    const rows = this.sqlite.query("SELECT key, value FROM kv WHERE substr(key, 1, length(?1)) = ?1").all(prefix) as {
      key: string;
      value: string;
    }[];
    return new Map(rows.map((r) => [r.key.slice(prefix.length), r.value]));
  }

  writeKv(key: string, value: string): void {
    this.immediate(() => {
      this.sqlite
        .query("INSERT INTO kv (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value")
        .run(key, value);
    });
  }
}

/** Headers that cannot be read (a damaged file) are left out; the row still goes. */
function parseHeaders(text: string | null): Record<string, string> | null {
  if (text === null) return null;
  try {
    const h = JSON.parse(text) as unknown;
    if (!h || typeof h !== "object" || Array.isArray(h)) return null;
    const entries = Object.entries(h).filter((e): e is [string, string] => typeof e[1] === "string");
    return entries.length > 0 ? Object.fromEntries(entries) : null;
  } catch {
    return null;
  }
}

/** A fallback that cannot be read (a damaged file) is ignored, so the row still goes out in its primary form. */
function parseFallback(text: string | null): StoredFallback | null {
  if (text === null) return null;
  try {
    const f = JSON.parse(text) as Partial<StoredFallback> | null;
    if (f && typeof f.dialect === "string" && typeof f.method === "string" && typeof f.path === "string") {
      const on = Array.isArray(f.on) && f.on.every((s) => typeof s === "number") ? { on: f.on } : {};
      const merge = f.merge && typeof f.merge === "object" && !Array.isArray(f.merge) ? { merge: f.merge } : {};
      const drop = f.drop === true ? { drop: true as const } : {};
      const body = typeof f.body === "string" ? f.body : null;
      return { dialect: f.dialect, method: f.method, path: f.path, body, ...on, ...merge, ...drop };
    }
  } catch {
    // fall through
  }
  return null;
}
