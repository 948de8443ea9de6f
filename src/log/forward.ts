// Forwards warnings and errors to the console's log history (POST /api/history/logs/, priority 90) through
// the outbox, rate-limited; records arrive already redacted by the hub. Never forwards records about the
// log endpoint itself (no feedback loop). A console without the endpoint (404, the 2024 console) is
// remembered by the outbox as the "logs" dialect (state DB, per console URL, asked again once a day):
// meanwhile nothing is queued for it.
import { isCredentialField, type LogHub, type LogRecord } from "./logger.ts";
import { PRIORITY_LOGS } from "../platform/priorities.ts";
import { formatLocalRfc3339Seconds } from "../platform/time.ts";
import { TokenBucket } from "./token-bucket.ts";

export const LOGS_PATH = "/api/history/logs/";
/** The outbox dialect that remembers a console without a log history: its rows are dropped on a 404. */
export const LOGS_DIALECT = "logs";

/** A log record for the console, as queued (forwarded warnings and local programs' records alike). */
export interface LogPost {
  method: "POST";
  path: string;
  body: unknown;
  priority: number;
  fallback: { dialect: string; drop: true };
}

export function logPost(body: unknown): LogPost {
  return { method: "POST", path: LOGS_PATH, body, priority: PRIORITY_LOGS, fallback: { dialect: LOGS_DIALECT, drop: true } };
}

const PYTHON_LEVEL = { debug: 10, info: 20, warn: 30, error: 40 } as const;

export interface LogForwarderOptions {
  hub: LogHub;
  enqueue: (item: LogPost) => unknown;
  now: () => number;
  /** True while the console is known to have no log history (the outbox's "logs" dialect). */
  lacksLogs?: () => boolean;
  /** Token bucket: at most `burst` records at once, refilled at `perMinute`. */
  burst?: number;
  perMinute?: number;
}

export class LogForwarder {
  private readonly bucket: TokenBucket;
  private suppressed = 0;
  private unlisten: (() => void) | undefined;

  constructor(private readonly options: LogForwarderOptions) {
    this.bucket = new TokenBucket({ burst: options.burst ?? 20, perMinute: options.perMinute ?? 10, now: options.now });
  }

  start(): void {
    this.unlisten = this.options.hub.listen((record) => this.offer(record));
  }

  stop(): void {
    this.unlisten?.();
    this.unlisten = undefined;
  }

  private offer(record: LogRecord): void {
    if (record.level !== "warn" && record.level !== "error") return;
    if (this.options.lacksLogs?.()) return;
    if (record.fields.path === LOGS_PATH || record.fields.endpoint === LOGS_PATH) return;
    if (!this.bucket.take()) {
      this.suppressed++;
      return;
    }
    const extra = this.suppressed > 0 ? ` (${this.suppressed} earlier records not forwarded: rate limit)` : "";
    this.suppressed = 0;
    const fields = Object.entries(record.fields)
      .filter(([k]) => !isCredentialField(k)) // already "[redacted]" by the hub: not worth sending
      .map(([k, v]) => `${k}=${v instanceof Error ? v.message : typeof v === "string" ? v : JSON.stringify(v)}`)
      .join(" ");
    this.options.enqueue(
      logPost({
        date: formatLocalRfc3339Seconds(record.time),
        level: PYTHON_LEVEL[record.level],
        program: "alpamon",
        path: record.component ?? "alpamon",
        lineno: 0,
        pid: process.pid,
        msg: `${record.message}${fields ? ` ${fields}` : ""}${extra}`,
      }),
    );
  }
}
