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
  /** `[signing]`: how commands signed by the console's signer are checked (commands/signing/). */
  signing: SigningConfig;
  /** `[tunnel]`: which loopback ports a tunnel stream may reach. */
  tunnel: TunnelConfig;
  /** `[editor]`: code-server for editor tunnels. */
  editor: EditorConfig;
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

export type SigningMode = "monitor" | "enforce" | "off";

export interface PinnedKey {
  keyId: string;
  /** The 32 raw bytes of the Ed25519 public key, standard base64 as the key server sends them. */
  publicKey: string;
}

export interface SigningConfig {
  mode: SigningMode;
  /** Where the signer's public key is fetched (upstream-2026.md §1.3); unused when keys are pinned. */
  keyUrl: string;
  /** `public_keys`: when not empty, no key is fetched and only these verify. */
  pinnedKeys: PinnedKey[];
  /** The CA file for the key fetch: `[signing] ca_cert`, else `[ssl] ca_cert`. `[ssl] verify` applies too. */
  caCert: string | undefined;
  /** How old a signed command's analyzed_at may be (and how far ahead, a tenth of it) in enforce mode. */
  maxAgeMs: number;
}

/** Upstream's signer (the AI server), not the console: `https://alpacon.ai/api/commands/public-key/`. */
export const UPSTREAM_KEY_URL = "https://alpacon.ai/api/commands/public-key/";
/** Upstream asks for the dev key only for this console host (upstream-2026.md §1.3). */
const DEV_CONSOLE_HOST = "dev.alpacon.io";
/** Ten minutes: a signed command is relayed within seconds; a longer window only helps a replay. */
const DEFAULT_SIGNING_MAX_AGE_S = 600;
const MAX_SIGNING_MAX_AGE_S = 24 * 3600;
const KEY_ID_PATTERN = /^[A-Za-z0-9._-]{1,128}$/;

/** The default key URL for a console: upstream's, with `?auth_env=dev` for the dev console only. */
export function defaultKeyUrl(serverUrl: string): string {
  return new URL(serverUrl).hostname.toLowerCase() === DEV_CONSOLE_HOST ? `${UPSTREAM_KEY_URL}?auth_env=dev` : UPSTREAM_KEY_URL;
}

/** A loopback host: the only place a key may be fetched over plain http (nothing on the path can swap it). */
export function isLoopbackHost(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, "").toLowerCase();
  return host === "localhost" || host === "::1" || /^127(\.\d{1,3}){3}$/.test(host);
}

function validateSigningMode(raw: string | undefined, where: { file?: string; key: string }): SigningMode {
  const value = raw?.trim().toLowerCase() ?? "";
  if (value === "") return "monitor";
  if (value === "monitor" || value === "enforce" || value === "off") return value;
  throw new ConfigError(where.file, where.key, `must be monitor, enforce or off (got ${JSON.stringify(raw)})`);
}

function validateKeyUrl(raw: string | undefined, serverUrl: string, where: { file?: string; key: string }): string {
  const value = raw?.trim() ?? "";
  if (value === "") return defaultKeyUrl(serverUrl);
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(where.file, where.key, `is not a valid URL: ${JSON.stringify(value)}`);
  }
  if (url.protocol !== "https:" && !(url.protocol === "http:" && isLoopbackHost(url.hostname))) {
    throw new ConfigError(where.file, where.key, `must be an https:// URL (http:// only on a loopback host), got ${JSON.stringify(value)}`);
  }
  if (
    url.username ||
    url.password ||
    value
      .slice(value.indexOf("//") + 2)
      .split(/[/?#\\]/, 1)[0]!
      .includes("@")
  ) {
    throw new ConfigError(where.file, where.key, "must not contain a user name or password");
  }
  if (url.hash) throw new ConfigError(where.file, where.key, "must not contain a fragment");
  return url.href;
}

/** `key_id:base64, key_id:base64`: each key 32 bytes (Ed25519), ids unique. */
function validatePinnedKeys(raw: string | undefined, where: { file?: string; key: string }): PinnedKey[] {
  const value = raw?.trim() ?? "";
  if (value === "") return [];
  const keys: PinnedKey[] = [];
  for (const [index, entry] of value.split(",").entries()) {
    const item = entry.trim();
    const colon = item.indexOf(":");
    const keyId = colon > 0 ? item.slice(0, colon).trim() : "";
    const publicKey = colon > 0 ? item.slice(colon + 1).trim() : "";
    const n = index + 1;
    if (!KEY_ID_PATTERN.test(keyId)) {
      throw new ConfigError(where.file, where.key, `entry ${n} must be key_id:base64 with a key_id of letters, digits, '.', '_' or '-'`);
    }
    if (!/^[A-Za-z0-9+/]+={0,2}$/.test(publicKey) || publicKey.length % 4 !== 0 || Buffer.from(publicKey, "base64").length !== 32) {
      throw new ConfigError(
        where.file,
        where.key,
        `entry ${n} (${keyId}): the key must be standard base64 of 32 bytes (an Ed25519 public key)`,
      );
    }
    if (keys.some((k) => k.keyId === keyId)) throw new ConfigError(where.file, where.key, `key_id ${keyId} is listed twice`);
    keys.push({ keyId, publicKey });
  }
  return keys;
}

function validateMaxAge(raw: string | undefined, where: { file?: string; key: string }): number {
  const value = raw?.trim() ?? "";
  if (value === "") return DEFAULT_SIGNING_MAX_AGE_S;
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > MAX_SIGNING_MAX_AGE_S) {
    throw new ConfigError(
      where.file,
      where.key,
      `must be a whole number of seconds from 1 to ${MAX_SIGNING_MAX_AGE_S} (got ${JSON.stringify(raw)}; default ${DEFAULT_SIGNING_MAX_AGE_S})`,
    );
  }
  return Number(value);
}

function signingConfig(
  signing: Record<string, string>,
  serverUrl: string,
  sslCaCert: string | undefined,
  at: (key: string) => { file?: string; key: string },
): SigningConfig {
  return {
    mode: validateSigningMode(signing.mode, at("mode")),
    keyUrl: validateKeyUrl(signing.key_url, serverUrl, at("key_url")),
    pinnedKeys: validatePinnedKeys(signing.public_keys, at("public_keys")),
    caCert: validateCaCert(signing.ca_cert, at("ca_cert")) ?? sslCaCert,
    maxAgeMs: validateMaxAge(signing.max_age, at("max_age")) * 1000,
  };
}

/** Inclusive port ranges; a single port is a range of one. */
export interface PortRange {
  from: number;
  to: number;
}

export interface TunnelConfig {
  /** `allowed_ports`: empty allows any port 1-65535 (as upstream). */
  allowedPorts: PortRange[];
  /** `load_limit`: opentunnel is refused while CPU or memory use is above this percent (upstream: 90; 100 = never). */
  loadLimitPercent: number;
}

export interface EditorConfig {
  /** `idle_timeout` in minutes (code-server's --idle-timeout-seconds is this times 60); 0 = none. Default 60. */
  idleTimeoutMinutes: number;
  /** `code_server`: an absolute path to the code-server program, tried before PATH and the usual places. */
  codeServer: string | undefined;
}

const DEFAULT_EDITOR_IDLE_MINUTES = 60;
/** A week, as for shell_timeout: beyond it the setting is a mistake. */
const MAX_EDITOR_IDLE_MINUTES = 7 * 24 * 60;

/**
 * `22,8000-8100`: ports and inclusive ranges, comma-separated, each 1-65535. Shared by the config check and the
 * tunnel helper, which gets the same text in its argv. Returns why it is wrong instead of throwing.
 */
export function parsePortList(text: string): PortRange[] | { error: string } {
  const ranges: PortRange[] = [];
  const trimmed = text.trim();
  if (trimmed === "") return ranges;
  for (const item of trimmed.split(",")) {
    const m = /^\s*(\d{1,5})\s*(?:-\s*(\d{1,5})\s*)?$/.exec(item);
    const from = m ? Number(m[1]) : NaN;
    const to = m?.[2] !== undefined ? Number(m[2]) : from;
    if (!m || from < 1 || to > 65_535 || to < from) {
      return { error: `${JSON.stringify(item.trim())} is not a port (1-65535) or a range like 8000-8100` };
    }
    ranges.push({ from, to });
  }
  return ranges;
}

/** The canonical text of a port list (what the tunnel helper is given). */
export function formatPortList(ranges: readonly PortRange[]): string {
  return ranges.map((r) => (r.from === r.to ? String(r.from) : `${r.from}-${r.to}`)).join(",");
}

/** True when `port` may be reached: any port when the list is empty. */
export function portAllowed(ranges: readonly PortRange[], port: number): boolean {
  return ranges.length === 0 || ranges.some((r) => port >= r.from && port <= r.to);
}

function tunnelConfig(tunnel: Record<string, string>, at: (key: string) => { file?: string; key: string }): TunnelConfig {
  const parsed = parsePortList(tunnel.allowed_ports ?? "");
  if ("error" in parsed) {
    const where = at("allowed_ports");
    throw new ConfigError(where.file, where.key, `${parsed.error}; write ports and ranges like 22,8000-8100`);
  }
  const limit = tunnel.load_limit?.trim() ?? "";
  if (limit !== "" && (!/^\d+$/.test(limit) || Number(limit) > 100)) {
    const where = at("load_limit");
    throw new ConfigError(
      where.file,
      where.key,
      `must be a whole percent from 0 to 100 (got ${JSON.stringify(tunnel.load_limit)}; default 90)`,
    );
  }
  return { allowedPorts: parsed, loadLimitPercent: limit === "" ? 90 : Number(limit) };
}

function editorConfig(editor: Record<string, string>, at: (key: string) => { file?: string; key: string }): EditorConfig {
  const idle = editor.idle_timeout?.trim() ?? "";
  if (idle !== "" && (!/^\d+$/.test(idle) || Number(idle) > MAX_EDITOR_IDLE_MINUTES)) {
    const where = at("idle_timeout");
    throw new ConfigError(
      where.file,
      where.key,
      `must be a whole number of minutes from 0 to ${MAX_EDITOR_IDLE_MINUTES} (got ${JSON.stringify(editor.idle_timeout)}; default ${DEFAULT_EDITOR_IDLE_MINUTES})`,
    );
  }
  const codeServer = editor.code_server?.trim() ?? "";
  return {
    idleTimeoutMinutes: idle === "" ? DEFAULT_EDITOR_IDLE_MINUTES : Number(idle),
    codeServer: codeServer === "" ? undefined : validatePath(codeServer, "", at("code_server")),
  };
}

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
  const signing = sections.signing ?? {};
  const tunnel = sections.tunnel ?? {};
  const editor = sections.editor ?? {};
  const at = (section: string, key: string) => ({ file, key: `[${section}] ${key}` });
  const serverUrl = validateServerUrl(server.url ?? "", at("server", "url"));
  const caCert = validateCaCert(ssl.ca_cert, at("ssl", "ca_cert"));

  return {
    serverUrl,
    id: validateId(server.id ?? "", at("server", "id")),
    key: validateKey(server.key ?? "", at("server", "key")),
    ssl: {
      verify: validateBool(ssl.verify, true, at("ssl", "verify")),
      caCert,
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
    signing: signingConfig(signing, serverUrl, caCert, (key) => at("signing", key)),
    tunnel: tunnelConfig(tunnel, (key) => at("tunnel", key)),
    editor: editorConfig(editor, (key) => at("editor", key)),
    source: file,
  };
}
