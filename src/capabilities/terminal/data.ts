// The wire side of websh: the openpty/resizepty data schemas, where the PTY socket may be dialled (only the
// console's own origin, so the server key never leaves it), and the shell's login environment.
// Never trusts console data for anything but the session's size and the user's name.
import { accessSync, constants, existsSync, readFileSync } from "node:fs";
import * as v from "valibot";
import { DEFAULT_PATH } from "../../exec/identity.ts";
import { carryProblem } from "../../exec/launch.ts";

const dimension = v.pipe(
  v.number("must be a whole number"),
  v.integer("must be a whole number"),
  v.minValue(1, "must be at least 1"),
  v.maxValue(65_535, "must be at most 65535"),
);

const sessionId = v.pipe(
  v.string("must be a string"),
  v.nonEmpty("is required"),
  v.maxLength(128, "must be at most 128 characters"),
  v.regex(/^[A-Za-z0-9_.:-]+$/, "must hold only letters, digits, '_', '.', ':' or '-'"),
);

export const OpenPtyData = v.object({
  session_id: sessionId,
  url: v.pipe(v.string("must be a string"), v.nonEmpty("is required"), v.maxLength(2048, "must be at most 2048 characters")),
  username: v.pipe(v.string("must be a string"), v.nonEmpty("is required"), v.maxLength(256, "must be at most 256 characters")),
  // Validated by the reference but never used for the terminal's credentials; the user's primary group is.
  groupname: v.optional(v.nullable(v.string("must be a string"))),
  // Only compared with the passwd home, never used (it could name another user's home and dotfiles); the 2024
  // console sends null for a user it has not seen committed yet.
  home_directory: v.optional(v.nullable(v.string("must be a string"))),
  rows: dimension,
  cols: dimension,
});
export type OpenPtyData = v.InferOutput<typeof OpenPtyData>;

export const ResizePtyData = v.object({ session_id: sessionId, rows: dimension, cols: dimension });
export type ResizePtyData = v.InferOutput<typeof ResizePtyData>;

export const RefreshPtyData = v.object({ session_id: sessionId });
export type RefreshPtyData = v.InferOutput<typeof RefreshPtyData>;

export type PtyUrl = { ok: true; url: string; legacy: boolean } | { ok: false; error: string };

/**
 * Where to dial: an absolute ws(s):// URL as is (2025 console), a path joined to the server URL as
 * ws(s):// (2024 console, which also wants text frames). Anything not on the console's origin is refused.
 */
export function resolvePtyUrl(raw: string, serverUrl: string, isConsoleOrigin: (url: string) => boolean): PtyUrl {
  let url: string;
  let legacy = false;
  if (/^wss?:\/\//i.test(raw)) url = raw;
  else if (raw.startsWith("/") && !raw.startsWith("//")) {
    url = serverUrl.replace(/\/+$/, "").replace(/^http/i, "ws") + raw;
    legacy = true;
  } else return { ok: false, error: "url must be a ws:// or wss:// URL or a path starting with '/'" };
  try {
    new URL(url);
  } catch {
    return { ok: false, error: "url is not a valid URL" };
  }
  if (!isConsoleOrigin(url))
    return { ok: false, error: "url is not on the console's origin; refusing to send the server's credentials there" };
  return { ok: true, url, legacy };
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The passwd shell when it is an executable absolute path (not nologin/false), else /bin/bash, else /bin/sh. */
export function chooseShell(passwdShell: string, exists: (p: string) => boolean = executable): string {
  const refuses = /\/(nologin|false)$/.test(passwdShell);
  if (passwdShell.startsWith("/") && !refuses && exists(passwdShell)) return passwdShell;
  return exists("/bin/bash") ? "/bin/bash" : "/bin/sh";
}

/** KEY=VALUE lines of /etc/environment (pam_env's simple format): comments, blank lines and `export` allowed. */
export function parseEnvironmentFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const raw of text.split("\n")) {
    const line = raw.trim().replace(/^export\s+/, "");
    if (!line || line.startsWith("#")) continue;
    const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (!m) continue;
    let value = m[2]!;
    if (value.length >= 2 && (value[0] === '"' || value[0] === "'") && value.endsWith(value[0])) value = value.slice(1, -1);
    env[m[1]!] = value;
  }
  return env;
}

/**
 * The entries of /etc/environment the launcher can carry across the identity switch. exec/ refuses the
 * dynamic-loader family and shell-managed names for every launch; an administrator's LD_LIBRARY_PATH there
 * must not stop every terminal from opening, so such entries are left out of terminals (not of SSH logins).
 */
function carriable(system: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(system).filter(([key, value]) => carryProblem({ [key]: value }) === undefined));
}

export interface LoginUser {
  user: string;
  home: string;
  shell: string;
}

/** TERM, HOME, USER, LOGNAME, SHELL, PATH, LANG and /etc/environment; who the user is cannot be overridden. */
export function loginEnvironment(user: LoginUser, environmentFile = "/etc/environment"): Record<string, string> {
  let system: Record<string, string> = {};
  try {
    if (existsSync(environmentFile)) system = parseEnvironmentFile(readFileSync(environmentFile, "utf8"));
  } catch {
    // unreadable: the defaults stand
  }
  return {
    PATH: DEFAULT_PATH,
    LANG: "C.UTF-8",
    ...carriable(system),
    TERM: "xterm-256color",
    HOME: user.home,
    USER: user.user,
    LOGNAME: user.user,
    SHELL: user.shell,
  };
}
