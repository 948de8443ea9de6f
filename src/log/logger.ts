// Logger: one line per event, `<RFC3339> [LEVEL] message key=value ...`, to a size-rotated file or stderr.
// Never logs secrets: the hub redacts every record before any sink or listener sees it, by value (the
// server key and whatever else the composition root registers, anywhere in the message or a field) and by
// a precise list of credential field names.
import { closeSync, constants as fsc, existsSync, fstatSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
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

export const REDACTED = "[redacted]";

/**
 * Field names whose values are credentials, compared lower-case with '-' read as '_'. Deliberately not
 * `key`: inventory names its keys (`key=cpu`) in every warning, and hiding them helped no one.
 */
const CREDENTIAL_FIELDS = new Set([
  "password",
  "passwd",
  "passphrase",
  "secret",
  "client_secret",
  "token",
  "access_token",
  "refresh_token",
  "id_token",
  "api_key",
  "apikey",
  "server_key",
  "private_key",
  "authorization",
  "proxy_authorization",
  "cookie",
  "set_cookie",
  "credential",
  "credentials",
]);

export function isCredentialField(name: string): boolean {
  return CREDENTIAL_FIELDS.has(name.toLowerCase().replaceAll("-", "_"));
}

/**
 * Shorter values are not redacted by value: they would shred every line, and where "[redacted]" stands
 * in the text would give them away anyway.
 */
export const MIN_SECRET_LENGTH = 8;

/** Replaces registered secret values wherever they occur, and credential-named fields, in log records. */
export class Redactor {
  private secrets: string[] = [];

  add(secret: string): void {
    for (const form of new Set([secret, encodeURIComponent(secret)])) {
      if (form.length < MIN_SECRET_LENGTH || this.secrets.includes(form)) continue;
      // Longest first, so a secret that contains another is replaced whole.
      this.secrets = [...this.secrets, form].sort((a, b) => b.length - a.length);
    }
  }

  text(text: string): string {
    let out = text;
    for (const secret of this.secrets) if (out.includes(secret)) out = out.split(secret).join(REDACTED);
    return out;
  }

  record(record: LogRecord): LogRecord {
    // fromEntries defines own properties: a field named "__proto__" stays a field.
    const fields = Object.fromEntries(
      Object.entries(record.fields).map(([name, value]) => [name, isCredentialField(name) ? REDACTED : this.value(value)]),
    );
    return { ...record, message: this.text(record.message), fields };
  }

  private value(value: unknown): unknown {
    if (typeof value === "string") return this.text(value);
    if (value instanceof Error) {
      const message = this.text(value.message);
      return message === value.message ? value : new Error(message);
    }
    if (value !== null && typeof value === "object") return this.object(value);
    return value;
  }

  /** Nested credential fields and secret values; the object itself when there was nothing to hide. */
  private object(value: object): unknown {
    let changed = false;
    let json: string;
    try {
      json = JSON.stringify(value, (name, inner: unknown) => {
        if (name !== "" && isCredentialField(name)) {
          changed = true;
          return REDACTED;
        }
        if (typeof inner !== "string") return inner;
        const redacted = this.text(inner);
        if (redacted !== inner) changed = true;
        return redacted;
      });
    } catch {
      return value; // unserialisable: formatValue prints String(value), which holds no field values
    }
    return changed ? JSON.parse(json) : value;
  }
}

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
  const parts = [formatLocalRfc3339(record.time), `[${record.level.toUpperCase()}]`, record.message.replace(/\r?\n/g, "\\n")];
  if (record.component) parts.push(`component=${record.component}`);
  for (const [name, value] of Object.entries(record.fields)) {
    parts.push(`${name}=${isCredentialField(name) ? REDACTED : formatValue(value)}`);
  }
  return parts.join(" ");
}

/** Writes to stderr. */
export const stderrSink: LogSink = {
  write: (line) => {
    process.stderr.write(`${line}\n`);
  },
  close: () => {},
};

/**
 * Appends to a file and rotates it when it would pass `maxBytes`: file -> file.1 -> ... -> file.<keep>.
 * Writes are synchronous so a line is on disk before the call returns (crash-safe, ordered).
 */
/** Append, never through a symlink planted where the log file should be (the agent writes it as root). */
const LOG_OPEN_FLAGS = fsc.O_WRONLY | fsc.O_APPEND | fsc.O_CREAT | fsc.O_NOFOLLOW;

export class RotatingFileSink implements LogSink {
  private fd: number;
  private size: number;

  constructor(
    private readonly path: string,
    private readonly maxBytes = 50 * 1024 * 1024,
    private readonly keep = 5,
  ) {
    mkdirSync(dirname(path), { recursive: true, mode: 0o750 });
    this.fd = openSync(path, LOG_OPEN_FLAGS, 0o600);
    this.size = fstatSync(this.fd).size;
  }

  write(line: string): void {
    const bytes = Buffer.from(`${line}\n`);
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
    this.fd = openSync(this.path, LOG_OPEN_FLAGS, 0o600);
    this.size = 0;
  }
}

type Listener = (record: LogRecord) => void;

/** The root of a logger tree: owns the level, the sink and the listeners (e.g. forwarding to the console). */
export class LogHub {
  private listeners: Listener[] = [];
  private readonly redactor = new Redactor();

  constructor(
    private sink: LogSink,
    public level: Level = "info",
    private readonly now: () => number = Date.now,
  ) {}

  /** A value that must never appear in a log line or a forwarded record (the server key, a token). */
  addSecret(secret: string): void {
    this.redactor.add(secret);
  }

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
    const record = this.redactor.record({ time: this.now(), level, component, message, fields });
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
