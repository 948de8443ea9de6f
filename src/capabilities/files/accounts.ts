// Owner and group names for the worker, read from /etc/passwd and /etc/group once per request (the worker
// runs as the user and starts no processes). Unknown ids are shown as numbers, never as errors.
import { readFileSync } from "node:fs";

export interface Accounts {
  userName(uid: number): string;
  groupName(gid: number): string;
  uidOf(name: string): number | undefined;
  gidOf(name: string): number | undefined;
  homeOf(name: string): string | undefined;
}

function table(path: string): string[][] {
  try {
    return readFileSync(path, "utf8")
      .split("\n")
      .filter((l) => l && !l.startsWith("#"))
      .map((l) => l.split(":"));
  } catch {
    return [];
  }
}

export function readAccounts(passwdPath = "/etc/passwd", groupPath = "/etc/group"): Accounts {
  const users = table(passwdPath);
  const groups = table(groupPath);
  const byUid = new Map(users.map((f) => [Number(f[2]), f[0]!]));
  const byGid = new Map(groups.map((f) => [Number(f[2]), f[0]!]));
  const numeric = (name: string) => (/^\d+$/.test(name) ? Number(name) : undefined);
  return {
    userName: (uid) => byUid.get(uid) ?? String(uid),
    groupName: (gid) => byGid.get(gid) ?? String(gid),
    uidOf: (name) => {
      const f = users.find((u) => u[0] === name);
      return f ? Number(f[2]) : numeric(name);
    },
    gidOf: (name) => {
      const f = groups.find((g) => g[0] === name);
      return f ? Number(f[2]) : numeric(name);
    },
    homeOf: (name) => users.find((u) => u[0] === name)?.[5],
  };
}
