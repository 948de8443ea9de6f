// The agent's configuration: typed values, defaults and the rules that reject a bad file (exit 78).
// Fixes the reference: `verify` defaults to true, an unparsable bool is an error, ids and keys are checked
// so they can never break the Authorization header. Never logs or echoes the key.
import { readFileSync } from "node:fs";
import { isAbsolute } from "node:path";
import { ConfigError } from "./errors.ts";
import type { IniSections } from "./ini.ts";

export interface AgentConfig {
  /** Console base URL without a trailing slash, e.g. `https://console.example.com`. */
  serverUrl: string;
  id: string;
  key: string;
  ssl: { verify: boolean; caCert: string | undefined };
  debug: boolean;
  dataDir: string;
  /** A path, or "-" for stderr. */
  logFile: string;
  pidFile: string;
  /** Caps of the durable outbox: rows and bytes of queued console-bound requests. */
  outbox: { maxRows: number; maxBytes: number };
  /** Limits of `download` with allow_unzip. */
  files: { unzip: UnzipLimits };
  /** `[commands] shell_timeout`: how long a `system` command line may run before its group is killed (exit 124). */
  commands: { shellTimeoutMs: number };
  /** The file the values came from (for messages). */
  source: string;
}

export const DEFAULT_PATHS = {
  dataDir: "/var/lib/alpamon",
  logFile: "/var/log/alpamon/alpamon.log",
  pidFile: "/run/alpamon/alpamon.pid",
} as const;

export const DEFAULT_OUTBOX = { maxRows: 50_000, maxBytes: 64 * 1024 * 1024 } as const;

export interface UnzipLimits {
  /** Total uncompressed bytes of an archive. */
  maxBytes: number;
  /** Uncompressed to compressed size of one entry, N for N:1 (checked on entries above 1 MiB). */
  maxRatio: number;
  maxEntries: number;
}

// 4 GiB: larger than any archive a web console sensibly uploads, small enough that a bomb cannot fill a disk.
// 200:1: deflate tops out near 1030:1, which bombs approach; real data (text, logs, binaries) stays well below.
// 100,000 entries: a large source tree fits; more is an inode and time exhaustion more than a download.
export const DEFAULT_UNZIP_LIMITS: UnzipLimits = { maxBytes: 4 * 1024 ** 3, maxRatio: 200, maxEntries: 100_000 };

/** 30 minutes, as upstream's shell handler (upstream-2026 §2.4). */
const DEFAULT_SHELL_TIMEOUT_S = 1800;
/** A week: longer is a forgotten setting, not a command, and stays far inside a timer's 2^31 ms. */
const MAX_SHELL_TIMEOUT_S = 7 * 24 * 3600;

const TRUE_WORDS = new Set(["1", "t", "true", "yes", "y", "on"]);
const FALSE_WORDS = new Set(["0", "f", "false", "no", "n", "off"]);

/** Parses the go-ini bool spellings (any letter case). Undefined for anything else. */
export function parseBool(text: string): boolean | undefined {
  const word = text.trim().toLowerCase();
  if (TRUE_WORDS.has(word)) return true;
  if (FALSE_WORDS.has(word)) return false;
  return undefined;
}

/** Server ids are UUIDs in practice; anything header-safe and short is accepted. */
const ID_PATTERN = /^[A-Za-z0-9._-]{1,128}$/;
/** Printable ASCII without quote or backslash, so `key="<key>"` needs no escaping. */
const KEY_PATTERN = /^[\x21\x23-\x5b\x5d-\x7e]{1,512}$/;

export function validateServerUrl(raw: string, where: { file?: string; key: string }): string {
  const value = raw.trim();
  if (value === "") throw new ConfigError(where.file, where.key, "is empty; set it to the console URL, e.g. https://console.example.com");
  if (!/^https?:\/\//.test(value)) {
    throw new ConfigError(where.file, where.key, `must start with http:// or https:// (got ${JSON.stringify(value)})`);
  }
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(where.file, where.key, `is not a valid URL: ${JSON.stringify(value)}`);
  }
  // The parser drops an empty user info ("https://@host", "https://:@host"), but the value is used as written
  // (request URLs, the WebSocket Origin), so any "@" before the host is refused as well.
  const authority = value.slice(value.indexOf("//") + 2).split(/[/?#\\]/, 1)[0]!;
  if (url.username || url.password || authority.includes("@")) {
    throw new ConfigError(where.file, where.key, "must not contain a user name or password");
  }
  if (url.search || url.hash) throw new ConfigError(where.file, where.key, "must not contain a query string or fragment");
  if (/[\s"]/.test(value)) throw new ConfigError(where.file, where.key, "must not contain spaces or quotes");
  return value.replace(/\/+$/, "");
}

export function validateId(raw: string, where: { file?: string; key: string }): string {
  const value = raw.trim();
  if (value === "") throw new ConfigError(where.file, where.key, "is empty; set it to this server's id from the console");
  if (!ID_PATTERN.test(value)) {
    throw new ConfigError(where.file, where.key, "may contain only letters, digits, '.', '_' and '-' (at most 128)");
  }
  return value;
}

export function validateKey(raw: string, where: { file?: string; key: string }): string {
  const value = raw.trim();
  if (value === "") throw new ConfigError(where.file, where.key, "is empty; set it to this server's key from the console");
  if (!KEY_PATTERN.test(value)) {
    // The value itself is never echoed: it is a secret.
    throw new ConfigError(where.file, where.key, "may contain only printable ASCII without spaces, quotes or backslashes (at most 512)");
  }
  return value;
}

export function validateBool(raw: string | undefined, fallback: boolean, where: { file?: string; key: string }): boolean {
  if (raw === undefined || raw.trim() === "") return fallback;
  const value = parseBool(raw);
  if (value === undefined) {
    throw new ConfigError(where.file, where.key, `is not a boolean (got ${JSON.stringify(raw)}; use true or false)`);
  }
  return value;
}

export function validateCaCert(raw: string | undefined, where: { file?: string; key: string }): string | undefined {
  const value = raw?.trim() ?? "";
  if (value === "") return undefined;
  let text: string;
  try {
    text = readFileSync(value, "utf8");
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? "unreadable";
    throw new ConfigError(where.file, where.key, `cannot read ${value} (${code})`);
  }
  if (!text.includes("-----BEGIN CERTIFICATE-----")) {
    throw new ConfigError(where.file, where.key, `${value} holds no PEM certificate`);
  }
  return value;
}

function validatePath(raw: string | undefined, fallback: string, where: { file?: string; key: string }, allowDash = false): string {
  const value = raw?.trim() ?? "";
  if (value === "") return fallback;
  if (allowDash && value === "-") return value;
  if (!isAbsolute(value)) throw new ConfigError(where.file, where.key, `must be an absolute path (got ${JSON.stringify(value)})`);
  return value;
}

function validatePositiveInt(raw: string | undefined, fallback: number, where: { file?: string; key: string }, shown = raw): number {
  const value = raw?.trim() ?? "";
  if (value === "") return fallback;
  if (!/^\d+$/.test(value) || Number(value) < 1 || !Number.isSafeInteger(Number(value))) {
    throw new ConfigError(where.file, where.key, `must be a positive whole number (got ${JSON.stringify(shown)})`);
  }
  return Number(value);
}

const SIZE_UNITS: Record<string, number> = { "": 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 };

/** Whole bytes, or with a binary unit: 512K, 100M, 4G, 4GiB (any letter case). */
function validateByteSize(raw: string | undefined, fallback: number, where: { file?: string; key: string }): number {
  const value = raw?.trim() ?? "";
  if (value === "") return fallback;
  const m = /^(\d+)\s*([KMGT]?)(?:i?B)?$/i.exec(value);
  const bytes = m ? Number(m[1]) * SIZE_UNITS[m[2]!.toUpperCase()]! : NaN;
  if (!m || bytes < 1 || !Number.isSafeInteger(bytes)) {
    throw new ConfigError(
      where.file,
      where.key,
      `must be a positive size in bytes, optionally with K, M, G or T (got ${JSON.stringify(raw)})`,
    );
  }
  return bytes;
}

/** A ratio written N or N:1. */
function validateRatio(raw: string | undefined, fallback: number, where: { file?: string; key: string }): number {
  const value = raw?.trim().replace(/\s*:\s*1$/, "");
  return validatePositiveInt(value === "" ? undefined : value, fallback, where, raw);
}

function unzipLimits(files: Record<string, string>, at: (key: string) => { file?: string; key: string }): UnzipLimits {
  return {
    maxBytes: validateByteSize(files.unzip_max_bytes, DEFAULT_UNZIP_LIMITS.maxBytes, at("unzip_max_bytes")),
    maxRatio: validateRatio(files.unzip_max_ratio, DEFAULT_UNZIP_LIMITS.maxRatio, at("unzip_max_ratio")),
    maxEntries: validatePositiveInt(files.unzip_max_entries, DEFAULT_UNZIP_LIMITS.maxEntries, at("unzip_max_entries")),
  };
}

/** Whole seconds from 1 to a week. */
function validateShellTimeout(raw: string | undefined, where: { file?: string; key: string }): number {
  const value = raw?.trim() ?? "";
  if (value === "") return DEFAULT_SHELL_TIMEOUT_S;
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > MAX_SHELL_TIMEOUT_S) {
    throw new ConfigError(
      where.file,
      where.key,
      `must be a whole number of seconds from 1 to ${MAX_SHELL_TIMEOUT_S} (got ${JSON.stringify(raw)}; default ${DEFAULT_SHELL_TIMEOUT_S})`,
    );
  }
  return Number(value);
}

/** Turns parsed INI sections into a validated config; throws ConfigError on the first problem. */
export function configFromSections(sections: IniSections, file: string): AgentConfig {
  const server = sections.server ?? {};
  const ssl = sections.ssl ?? {};
  const logging = sections.logging ?? {};
  const agent = sections.agent ?? {};
  const files = sections.files ?? {};
  const commands = sections.commands ?? {};
  const at = (section: string, key: string) => ({ file, key: `[${section}] ${key}` });

  return {
    serverUrl: validateServerUrl(server.url ?? "", at("server", "url")),
    id: validateId(server.id ?? "", at("server", "id")),
    key: validateKey(server.key ?? "", at("server", "key")),
    ssl: {
      verify: validateBool(ssl.verify, true, at("ssl", "verify")),
      caCert: validateCaCert(ssl.ca_cert, at("ssl", "ca_cert")),
    },
    debug: validateBool(logging.debug, false, at("logging", "debug")),
    dataDir: validatePath(agent.data_dir, DEFAULT_PATHS.dataDir, at("agent", "data_dir")),
    logFile: validatePath(agent.log_file, DEFAULT_PATHS.logFile, at("agent", "log_file"), true),
    pidFile: validatePath(agent.pid_file, DEFAULT_PATHS.pidFile, at("agent", "pid_file")),
    outbox: {
      maxRows: validatePositiveInt(agent.outbox_max_rows, DEFAULT_OUTBOX.maxRows, at("agent", "outbox_max_rows")),
      maxBytes: validatePositiveInt(agent.outbox_max_bytes, DEFAULT_OUTBOX.maxBytes, at("agent", "outbox_max_bytes")),
    },
    files: { unzip: unzipLimits(files, (key) => at("files", key)) },
    commands: { shellTimeoutMs: validateShellTimeout(commands.shell_timeout, at("commands", "shell_timeout")) * 1000 },
    source: file,
  };
}
