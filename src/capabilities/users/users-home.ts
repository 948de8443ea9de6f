// Keeping a deleted user's home: move it (the passwd home, not an assumed /home/<user>) under
// /home/deleted_users with a ':'-free UTC stamp, hand it to root, and undo both if the deletion then fails.
// Never follows a symlink, never moves a directory the user does not own, and never touches "/".
import { existsSync, lchownSync, lstatSync, mkdirSync, readdirSync, renameSync, chmodSync } from "node:fs";
import type { Stats } from "node:fs";
import { isAbsolute, join, normalize } from "node:path";
import type { PasswdEntry } from "../../exec/identity.ts";

export const DELETED_USERS_DIR = "/home/deleted_users";

/** `20251013T074340Z`: RFC 3339 basic format, UTC, no ':' (safe in file names and on any tool's command line). */
export function backupStamp(epochMs: number): string {
  return new Date(epochMs)
    .toISOString()
    .replace(/\.\d+Z$/, "Z")
    .replace(/[-:]/g, "");
}

export type BackupPlan = { kind: "backup"; home: string } | { kind: "skip"; reason: string };

function inside(child: string, parent: string): boolean {
  return child === parent || child.startsWith(parent.endsWith("/") ? parent : `${parent}/`);
}

/** Whether the user's home can be backed up, and if not, why (a note for the result, not a failure). */
export function planHomeBackup(user: PasswdEntry, backupRoot = DELETED_USERS_DIR): BackupPlan {
  if (!user.home || !isAbsolute(user.home))
    return { kind: "skip", reason: `the user has no absolute home directory (${JSON.stringify(user.home)})` };
  const home = normalize(user.home).replace(/\/+$/, "") || "/";
  if (home === "/") return { kind: "skip", reason: "the user's home directory is /" };
  if (inside(backupRoot, home) || inside(home, backupRoot)) {
    return { kind: "skip", reason: `the home directory ${home} overlaps ${backupRoot}` };
  }
  let stat: Stats;
  try {
    stat = lstatSync(home);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return {
      kind: "skip",
      reason: code === "ENOENT" ? `the home directory ${home} does not exist` : `the home directory ${home} cannot be read (${code})`,
    };
  }
  if (stat.isSymbolicLink()) return { kind: "skip", reason: `the home directory ${home} is a symbolic link` };
  if (!stat.isDirectory()) return { kind: "skip", reason: `the home directory ${home} is not a directory` };
  // System accounts point at shared directories (sync's home is /bin); only a home the user owns is theirs to move.
  if (stat.uid !== user.uid) return { kind: "skip", reason: `the home directory ${home} is owned by uid ${stat.uid}, not by the user` };
  return { kind: "backup", home };
}

interface Ownership {
  path: string;
  uid: number;
  gid: number;
  /** Set when chown will clear setuid/setgid bits that a rollback must put back. */
  mode?: number;
}

export interface HomeBackup {
  home: string;
  backup: string;
  /** The owners changed to root, so a rollback can give every entry back. */
  changed: Ownership[];
}

function errorText(err: unknown): string {
  return (err as Error).message ?? String(err);
}

/** Hands every entry under `root` to 0:0 without following symlinks, recording what it changed. */
function chownTreeToRoot(root: string, changed: Ownership[]): void {
  const stack = [root];
  while (stack.length > 0) {
    const path = stack.pop()!;
    const stat = lstatSync(path);
    if (stat.uid !== 0 || stat.gid !== 0) {
      const special = !stat.isSymbolicLink() && (stat.mode & 0o6000) !== 0;
      changed.push({ path, uid: stat.uid, gid: stat.gid, ...(special ? { mode: stat.mode & 0o7777 } : {}) });
      lchownSync(path, 0, 0);
    }
    if (stat.isDirectory()) for (const name of readdirSync(path)) stack.push(join(path, name));
  }
}

function restoreOwners(changed: Ownership[]): string[] {
  const errors: string[] = [];
  for (const entry of changed.reverse()) {
    try {
      lchownSync(entry.path, entry.uid, entry.gid);
      if (entry.mode !== undefined) chmodSync(entry.path, entry.mode);
    } catch (err) {
      errors.push(`${entry.path}: ${errorText(err)}`);
    }
  }
  return errors;
}

function freeBackupPath(backupRoot: string, user: string, stamp: string): string {
  let candidate = join(backupRoot, `${user}_${stamp}`);
  for (let n = 2; existsSync(candidate); n++) candidate = join(backupRoot, `${user}_${stamp}_${n}`);
  return candidate;
}

/** Moves the home into the backup directory and gives it to root; on any failure, leaves the home as it was. */
export function backupHome(
  home: string,
  user: string,
  epochMs: number,
  backupRoot = DELETED_USERS_DIR,
): { ok: true; backup: HomeBackup } | { ok: false; error: string } {
  try {
    mkdirSync(backupRoot, { recursive: true, mode: 0o700 });
  } catch (err) {
    return { ok: false, error: `Failed to create backup directory: ${errorText(err)}` };
  }
  const backup = freeBackupPath(backupRoot, user, backupStamp(epochMs));
  try {
    renameSync(home, backup);
  } catch (err) {
    return { ok: false, error: `Failed to move home directory: ${errorText(err)}` };
  }
  const changed: Ownership[] = [];
  try {
    chownTreeToRoot(backup, changed);
  } catch (err) {
    const undo = restoreHome({ home, backup, changed });
    return { ok: false, error: `Failed to chown backup directory: ${errorText(err)}${undo ? `\n${undo}` : ""}` };
  }
  return { ok: true, backup: { home, backup, changed } };
}

/** Gives the entries back to their owners and moves the home back; returns what could not be undone. */
export function restoreHome(backup: HomeBackup): string | undefined {
  const errors = restoreOwners(backup.changed);
  try {
    renameSync(backup.backup, backup.home);
  } catch (err) {
    errors.push(`moving ${backup.backup} back to ${backup.home}: ${errorText(err)}`);
  }
  return errors.length ? `Rolling back the home directory backup failed: ${errors.join("; ")}` : undefined;
}
