// Forwards warnings and errors to the console's log history (POST /api/history/logs/, priority 90) through
// the outbox, rate-limited; records arrive already redacted by the hub. Never forwards records about the
// log endpoint itself (no feedback loop), and stops for good when the console says the endpoint does not
// exist (404, the 2024 console).
import { isCredentialField, type LogHub, type LogRecord } from "./logger.ts";
import { PRIORITY_LOGS } from "../platform/priorities.ts";
import { formatLocalRfc3339Seconds } from "../platform/time.ts";
import { TokenBucket } from "./token-bucket.ts";

export const LOGS_PATH = "/api/history/logs/";

const PYTHON_LEVEL = { debug: 10, info: 20, warn: 30, error: 40 } as const;

export interface LogForwarderOptions {
  hub: LogHub;
  enqueue: (item: { method: "POST"; path: string; body: unknown; priority: number }) => unknown;
  now: () => number;
  /** Token bucket: at most `burst` records at once, refilled at `perMinute`. */
  burst?: number;
  perMinute?: number;
}

export class LogForwarder {
  private readonly bucket: TokenBucket;
  private suppressed = 0;
  private disabled = false;
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

  /** Called by the outbox when a log post settles; a 404 means the console has no log history. */
  settled(path: string, status: number): void {
    if (path === LOGS_PATH && status === 404) this.disabled = true;
  }

  private offer(record: LogRecord): void {
    if (this.disabled || (record.level !== "warn" && record.level !== "error")) return;
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
    this.options.enqueue({
      method: "POST",
      path: LOGS_PATH,
      priority: PRIORITY_LOGS,
      body: {
        date: formatLocalRfc3339Seconds(record.time),
        level: PYTHON_LEVEL[record.level],
        program: "alpamon",
        path: record.component ?? "alpamon",
        lineno: 0,
        pid: process.pid,
        msg: `${record.message}${fields ? ` ${fields}` : ""}${extra}`,
      },
    });
  }
}
