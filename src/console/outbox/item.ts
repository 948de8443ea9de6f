// What a caller hands the outbox and how it becomes a row: validation, body encoding, size, and which
// statuses deliver, retry or drop. Pure: never touches the database, the network or the clock.
import { DEFAULT_TIMEOUT_MS, isSuccess, type HttpMethod } from "../http.ts";
import { PRIORITY_FINS } from "../../platform/priorities.ts";
import type { NewRow, StoredFallback } from "../../db/outbox-store.ts";

export { PRIORITY_COMMANDS, PRIORITY_FINS, PRIORITY_INVENTORY, PRIORITY_LOGS } from "../../platform/priorities.ts";

/** The highest priority number the caps never refuse nor drop: acks and events (10) and fins (11). */
export const PROTECTED_PRIORITY = PRIORITY_FINS;

/** Acks, fins and events: never refused nor dropped for the outbox's caps. */
export function isProtected(priority: number): boolean {
  return priority <= PROTECTED_PRIORITY;
}

const METHODS: ReadonlySet<string> = new Set(["GET", "POST", "PUT", "PATCH", "DELETE"]);

export interface OutboxItem {
  method: HttpMethod;
  /** A console path starting with one "/". */
  path: string;
  /** Stored as JSON text; a string is taken as already-encoded JSON and sent verbatim. */
  body?: unknown;
  /** PRIORITY_COMMANDS, PRIORITY_FINS, PRIORITY_INVENTORY or PRIORITY_LOGS; lower goes first. */
  priority: number;
  /** Default 10 s. */
  timeoutMs?: number;
  /** Id of a row that must be delivered (or dropped) first. */
  after?: number;
  /**
   * The 2024 form, sent when the primary answers 404; the dialect is then remembered (kv). With `merge`, its
   * body is the primary body (a JSON object) with these fields added, built when sent: a large body (a fin's
   * result) is stored and counted once, not twice.
   */
  fallback?:
    | { dialect: string; method: HttpMethod; path: string; body?: unknown; merge?: Record<string, unknown> }
    /**
     * The older console has no form of this request: once the dialect has switched, such rows are dropped
     * quietly instead of sent (streamed output chunks, which a 2024/2025 console answers with 404).
     */
    | { dialect: string; drop: true };
  /** The statuses of the primary form that switch to the fallback; default [404]. */
  fallbackOn?: number[];
  /** Extra request headers, sent with the primary form only (the inventory's X-Sync-Hash). */
  headers?: Record<string, string>;
  /**
   * Send at once and write the row only if that first attempt is to be retried (a 2xx delivers it, a 4xx
   * drops it as it would a row); from then on it is an ordinary row. For what costs nothing to lose in a
   * crash between the two: a realtime metric sample (it is also in the metrics tables). It saves the row's
   * insert, read and delete on every 5-second sample. Taken only while the outbox is running, nothing is in
   * backoff or held, and fewer such sends than senders are out; otherwise, and with `after` or a `fallback`,
   * the item is written first like any other.
   */
  sendFirst?: boolean;
}

export type Outcome = "delivered" | "retry" | "drop";

/**
 * 2xx delivers; any other 4xx than 408 and 429 will never succeed, so the row is dropped. Everything else
 * (no answer, 408, 429, 5xx, and a stray 1xx/3xx such as a redirect from a misconfigured URL) is kept and
 * retried: the row caps bound the space, and a fixed configuration then delivers it.
 */
/**
 * 408 and 429 are retried like 5xx and network errors. So are 401 and 403: they mean the console does not
 * accept this server's credentials right now (a rotated key, a re-registration), not that the request is
 * wrong, and dropping fins on an authentication hiccup would lose what the agent acknowledged.
 */
export function outcomeOf(status: number): Outcome {
  if (isSuccess(status)) return "delivered";
  const retryable4xx = status === 401 || status === 403 || status === 408 || status === 429;
  if (status >= 400 && status <= 499 && !retryable4xx) return "drop";
  return "retry";
}

/** Validates an item and turns it into the row to insert; throws on a programming error. */
export function toRow(item: OutboxItem): NewRow {
  checkRequest(item.method, item.path);
  if (!Number.isSafeInteger(item.priority) || item.priority < 0) throw new Error(`outbox: bad priority ${item.priority}`);
  if (item.after !== undefined && !Number.isSafeInteger(item.after)) throw new Error(`outbox: bad after ${item.after}`);
  const timeoutMs = item.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!(timeoutMs > 0)) throw new Error(`outbox: bad timeoutMs ${timeoutMs}`);
  const body = encodeBody(item.body);
  let fallback: StoredFallback | null = null;
  if (item.fallback) {
    if (!item.fallback.dialect) throw new Error("outbox: a fallback needs a dialect name");
    if ("drop" in item.fallback) {
      fallback = { dialect: item.fallback.dialect, method: item.method, path: item.path, body: null, drop: true };
    } else {
      checkRequest(item.fallback.method, item.fallback.path);
      const { dialect, method, path, merge } = item.fallback;
      if (merge !== undefined && item.fallback.body !== undefined) throw new Error("outbox: a fallback has a body or merges, not both");
      fallback = { dialect, method, path, body: encodeBody(item.fallback.body), ...(merge ? { merge } : {}) };
    }
    if (item.fallbackOn) {
      if (!item.fallbackOn.every((s) => Number.isInteger(s) && s >= 100 && s <= 599)) throw new Error("outbox: bad fallbackOn status");
      fallback.on = [...item.fallbackOn];
    }
  }
  const headers = item.headers && Object.keys(item.headers).length > 0 ? { ...item.headers } : null;
  const bytes =
    Buffer.byteLength(item.path) +
    Buffer.byteLength(body ?? "") +
    (fallback ? Buffer.byteLength(JSON.stringify(fallback)) : 0) +
    (headers ? Buffer.byteLength(JSON.stringify(headers)) : 0);
  return {
    priority: item.priority,
    method: item.method,
    path: item.path,
    body,
    bytes,
    timeoutMs: Math.ceil(timeoutMs),
    afterId: item.after ?? null,
    fallback,
    ...(headers ? { headers } : {}),
  };
}

/** The form of a row that goes on the wire: the primary one or its fallback. */
export type WireForm = { method: HttpMethod; path: string; body: string | null; headers?: Record<string, string> | null };

/** The fallback as sent: a merging fallback's body is the primary body (a JSON object) plus its fields. */
export function fallbackForm(fallback: StoredFallback, primaryBody: string | null): WireForm {
  const { method, path, merge } = fallback;
  return { method, path, body: merge ? mergeJsonObject(primaryBody, merge) : fallback.body };
}

/** `{...primary, ...fields}` on JSON text, without parsing the primary (it may be megabytes). */
function mergeJsonObject(primary: string | null, fields: Record<string, unknown>): string {
  const extra = JSON.stringify(fields);
  const body = primary?.trim() ?? "";
  if (!body.startsWith("{") || !body.endsWith("}") || /^\{\s*\}$/.test(body)) return extra;
  if (extra === "{}") return body;
  return `${body.slice(0, -1)},${extra.slice(1)}`;
}

/** Same rule as ConsoleHttp: a string is already JSON and goes out verbatim; undefined means no body. */
function encodeBody(body: unknown): string | null {
  if (body === undefined) return null;
  return typeof body === "string" ? body : (JSON.stringify(body) ?? null);
}

function checkRequest(method: string, path: string): void {
  if (!METHODS.has(method)) throw new Error(`outbox: unknown method ${method}`);
  // ConsoleHttp would throw for such a path at every attempt; refuse it here, once, to the caller.
  if (!path.startsWith("/") || path.startsWith("//")) throw new Error(`outbox: console path must start with one "/": ${path}`);
}
