// The `users` and `groups` keys through NSS (`getent passwd`, `getent group`), so LDAP/SSSD accounts count
// where the directory allows enumeration; falls back to the local files if getent cannot run.
// Pure parsers plus one process each; never passes console data to a process.
import { join } from "node:path";
import type { GroupRow, UserRow } from "../types.ts";
import { TOOL_ENV, readText, type CollectorEnv } from "./env.ts";

const INTEGER = /^\d+$/;

/** passwd(5) lines with 7 fields and numeric ids; GECOS goes to description (the reference left it ""). */
export function parsePasswd(text: string): UserRow[] {
  const users: UserRow[] = [];
  for (const line of text.split("\n")) {
    const f = line.split(":");
    if (f.length !== 7 || !f[0] || !INTEGER.test(f[2]!) || !INTEGER.test(f[3]!)) continue;
    users.push({ uid: Number(f[2]), gid: Number(f[3]), username: f[0], description: f[4]!, directory: f[5]!, shell: f[6]!.trim() });
  }
  return users;
}

/** group(5) lines with 4 fields and a numeric gid. */
export function parseGroup(text: string): GroupRow[] {
  const groups: GroupRow[] = [];
  for (const line of text.split("\n")) {
    const f = line.split(":");
    if (f.length !== 4 || !f[0] || !INTEGER.test(f[2]!)) continue;
    groups.push({ gid: Number(f[2]), groupname: f[0] });
  }
  return groups;
}

async function getentAll(env: CollectorEnv, database: "passwd" | "group"): Promise<string | undefined> {
  const result = await env.runProcess({ argv: ["getent", database], env: TOOL_ENV, timeoutMs: 30_000, maxOutputBytes: 32 << 20 });
  return result.exitCode === 0 && result.omittedBytes === 0 ? result.output : undefined;
}

export async function collectUsers(env: CollectorEnv): Promise<UserRow[]> {
  return parsePasswd((await getentAll(env, "passwd")) ?? readText(join(env.root, "etc/passwd")));
}

export async function collectGroups(env: CollectorEnv): Promise<GroupRow[]> {
  return parseGroup((await getentAll(env, "group")) ?? readText(join(env.root, "etc/group")));
}
