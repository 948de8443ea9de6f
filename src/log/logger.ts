// Logger: one line per event, `<RFC3339> [LEVEL] message key=value ...`, to a size-rotated file or stderr.
// Never logs secrets: fields whose name looks like a credential are redacted before formatting.
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { formatLocalRfc3339 } from "../platform/time.ts";

export type Level = "debug" | "info" | "warn" | "error";
export type Fields = Record<string, unknown>;

export const LEVEL_RANK: Record<Level, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface LogRecord {
  time: number;
  level: Level;
  component: string | undefined;
  message: string;
  fields: Fields;
}

export interface Logger {
  debug(message: string, fields?: Fields): void;
  info(message: string, fields?: Fields): void;
  warn(message: string, fields?: Fields): void;
  error(message: string, fields?: Fields): void;
  /** A logger that tags every line with `component=<name>` and shares this one's output. */
  child(component: string): Logger;
}

/** Where formatted lines go. */
export interface LogSink {
  write(line: string): void;
  close(): void;
}

const SECRET_FIELD = /^(key|password|passwd|secret|token|authorization|auth|credentials?)$/i;

function formatValue(value: unknown): string {
  let text: string;
  if (value instanceof Error) text = value.message;
  else if (typeof value === "string") text = value;
  else if (value === undefined) text = "undefined";
  else {
    try {
      text = typeof value === "object" ? JSON.stringify(value) : String(value);
    } catch {
      text = String(value);
    }
  }
  return text === "" || /[\s"=]/.test(text) ? JSON.stringify(text) : text;
}

/** Formats one record as a single line (newlines in the message are escaped so one event = one line). */
export function formatRecord(record: LogRecord): string {
  const parts = [
    formatLocalRfc3339(record.time),
    `[${record.level.toUpperCase()}]`,
    record.message.replace(/\r?\n/g, "\\n"),
  ];
  if (record.component) parts.push(`component=${record.component}`);
  for (const [name, value] of Object.entries(record.fields)) {
    parts.push(`${name}=${SECRET_FIELD.test(name) ? "[redacted]" : formatValue(value)}`);
  }
  return parts.join(" ");
}

/** Writes to stderr. */
export const stderrSink: LogSink = {
  write: (line) => {
    process.stderr.write(line + "\n");
  },
  close: () => {},
};

/**
 * Appends to a file and rotates it when it would pass `maxBytes`: file -> file.1 -> ... -> file.<keep>.
 * Writes are synchronous so a line is on disk before the call returns (crash-safe, ordered).
 */
export class RotatingFileSink implements LogSink {
  private fd: number;
  private size: number;

  constructor(
    private readonly path: string,
    private readonly maxBytes = 50 * 1024 * 1024,
    private readonly keep = 5,
  ) {
    mkdirSync(dirname(path), { recursive: true, mode: 0o750 });
    this.fd = openSync(path, "a", 0o600);
    this.size = fstatSync(this.fd).size;
  }

  write(line: string): void {
    const bytes = Buffer.from(line + "\n");
    if (this.size > 0 && this.size + bytes.length > this.maxBytes) this.rotate();
    writeSync(this.fd, bytes);
    this.size += bytes.length;
  }

  close(): void {
    try {
      closeSync(this.fd);
    } catch {
      // already closed
    }
  }

  private rotate(): void {
    closeSync(this.fd);
    rmSync(`${this.path}.${this.keep}`, { force: true });
    for (let i = this.keep - 1; i >= 1; i--) {
      if (existsSync(`${this.path}.${i}`)) renameSync(`${this.path}.${i}`, `${this.path}.${i + 1}`);
    }
    renameSync(this.path, `${this.path}.1`);
    this.fd = openSync(this.path, "a", 0o600);
    this.size = 0;
  }
}

type Listener = (record: LogRecord) => void;

/** The root of a logger tree: owns the level, the sink and the listeners (e.g. forwarding to the console). */
export class LogHub {
  private listeners: Listener[] = [];

  constructor(
    private sink: LogSink,
    public level: Level = "info",
    private readonly now: () => number = Date.now,
  ) {}

  /** Registers a listener for every record at or above the hub's level; returns a function that removes it. */
  listen(listener: Listener): () => void {
    this.listeners.push(listener);
    return () => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    };
  }

  setSink(sink: LogSink): void {
    const old = this.sink;
    this.sink = sink;
    old.close();
  }

  close(): void {
    this.sink.close();
    this.sink = stderrSink;
  }

  emit(level: Level, component: string | undefined, message: string, fields: Fields = {}): void {
    if (LEVEL_RANK[level] < LEVEL_RANK[this.level]) return;
    const record: LogRecord = { time: this.now(), level, component, message, fields };
    try {
      this.sink.write(formatRecord(record));
    } catch {
      // A full disk must not take the agent down; the line is lost, the agent goes on.
    }
    for (const listener of this.listeners) {
      try {
        listener(record);
      } catch {
        // listeners never break logging
      }
    }
  }

  logger(component?: string): Logger {
    const emit = (level: Level) => (message: string, fields?: Fields) => this.emit(level, component, message, fields);
    return {
      debug: emit("debug"),
      info: emit("info"),
      warn: emit("warn"),
      error: emit("error"),
      child: (name) => this.logger(component ? `${component}.${name}` : name),
    };
  }
}

/** A logger that drops everything; for tests and library callers that do not care. */
export const silentLogger: Logger = {
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
  child: () => silentLogger,
};
