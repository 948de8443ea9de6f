// Users and groups through NSS (getent, id), so LDAP and SSSD accounts count, and the identity a command
// runs as: the user's uid, the requested group (which must be one of the user's) and the user's login
// environment. Never guesses: an unknown user or group is an error that names it.
import type { Identity, RunProcess } from "./types.ts";
import { runProcess as defaultRun } from "./run.ts";

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  gecos: string;
  home: string;
  shell: string;
}

export interface GroupEntry {
  name: string;
  gid: number;
  members: string[];
}

export type IdentityResult = { ok: true; identity: Identity } | { ok: false; error: string };

/** Names getent and id may be asked about: no leading '-', no spaces or colons. */
const SAFE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,255}\$?$/;
const TOOL_ENV = { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", LANG: "C.UTF-8" };
export const DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

async function getent(database: "passwd" | "group", key: string, run: RunProcess): Promise<string[] | undefined> {
  const result = await run({ argv: ["getent", database, key], env: TOOL_ENV, timeoutMs: 10_000, maxOutputBytes: 1 << 20 });
  if (result.exitCode !== 0) return undefined;
  const line = result.output.split("\n")[0] ?? "";
  return line ? line.split(":") : undefined;
}

export async function lookupUser(name: string, run: RunProcess = defaultRun): Promise<PasswdEntry | undefined> {
  if (!SAFE_NAME.test(name)) return undefined;
  const f = await getent("passwd", name, run);
  // getent also matches a numeric key as a uid; only the name itself counts here.
  if (!f || f.length < 7 || f[0] !== name) return undefined;
  return { name: f[0]!, uid: Number(f[2]), gid: Number(f[3]), gecos: f[4]!, home: f[5]!, shell: f[6]! };
}

export async function lookupGroup(nameOrGid: string | number, run: RunProcess = defaultRun): Promise<GroupEntry | undefined> {
  const key = String(nameOrGid);
  if (!SAFE_NAME.test(key)) return undefined;
  const f = await getent("group", key, run);
  if (!f || f.length < 4) return undefined;
  if (typeof nameOrGid === "string" && f[0] !== nameOrGid) return undefined;
  return { name: f[0]!, gid: Number(f[2]), members: f[3] ? f[3].split(",") : [] };
}

/** Every gid the user belongs to (primary and supplementary, as initgroups(3) sees them). */
export async function userGroupIds(name: string, run: RunProcess = defaultRun): Promise<number[]> {
  if (!SAFE_NAME.test(name)) return [];
  const result = await run({ argv: ["id", "-G", name], env: TOOL_ENV, timeoutMs: 10_000, maxOutputBytes: 1 << 16 });
  if (result.exitCode !== 0) return [];
  return result.output.trim().split(/\s+/).filter(Boolean).map(Number);
}

/** The identity for running as `user` with `group` (default: the user's primary group). */
export async function resolveIdentity(
  user: string,
  group: string | null | undefined,
  run: RunProcess = defaultRun,
): Promise<IdentityResult> {
  const pw = await lookupUser(user, run);
  if (!pw) return { ok: false, error: `there is no user ${JSON.stringify(user)} on this server` };
  let gid = pw.gid;
  if (group) {
    const gr = await lookupGroup(group, run);
    if (!gr) return { ok: false, error: `there is no group ${JSON.stringify(group)} on this server` };
    if (gr.gid !== pw.gid && !(await userGroupIds(user, run)).includes(gr.gid)) {
      return { ok: false, error: `group ${JSON.stringify(group)} is not one of user ${JSON.stringify(user)}'s groups` };
    }
    gid = gr.gid;
  }
  return { ok: true, identity: { user: pw.name, uid: pw.uid, gid, home: pw.home, shell: pw.shell } };
}

/** A clean login-like environment for the identity, plus `extra` (the console's env wins over defaults). */
export function userEnvironment(identity: Identity, extra: Record<string, string> = {}): Record<string, string> {
  return {
    PATH: DEFAULT_PATH,
    HOME: identity.home,
    USER: identity.user,
    LOGNAME: identity.user,
    SHELL: identity.shell || "/bin/sh",
    LANG: "C.UTF-8",
    TERM: "xterm-256color",
    ...extra,
  };
}
