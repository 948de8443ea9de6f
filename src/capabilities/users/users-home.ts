// Keeping a deleted user's home: move it (the passwd home, not an assumed /home/<user>) to
// /home/deleted_users/<user>_<UTC RFC 3339 stamp> and hand what the user owned to root.
//
// The order is what keeps this safe: the plan is checked before the deletion, the move and the chown happen
// only AFTER the account tool has deleted the user. userdel (and Debian's deluser, which runs it) refuses
// while any process of that uid lives, so once it has succeeded nobody is left running as the user to swap
// a directory for a symlink under us, and nothing ever has to be "given back" to the user (a rollback that
// chowns recorded paths back to the user could be steered onto /etc/shadow by such a swap).
// On top of that:
// - the home itself must be a real directory (never a symlink) owned by the user, and every directory above
//   it must be root's and writable by nobody else, so no other user can redirect the move either;
// - the backup directory must be a real root-owned directory writable by nobody else, on the same file
//   system as the home (a rename, never a copy);
// - the hand-over to root is coreutils' `chown -R -P --from=<uid> 0:0` in a child process (fts walks with
//   openat and never follows a symlink, however deep the tree, and the agent's event loop is not held up by a
//   large home), changing only entries the deleted uid owns (a hard link to someone else's file stays
//   theirs). chown(2) clears setuid/setgid bits on the way.
import { closeSync, constants, existsSync, fstatSync, lstatSync, mkdirSync, openSync, realpathSync, renameSync } from "node:fs";
import type { Stats } from "node:fs";
import { basename, dirname, isAbsolute, join, normalize } from "node:path";
import type { PasswdEntry } from "../../exec/identity.ts";

export const DELETED_USERS_DIR = "/home/deleted_users";

/** `2025-10-13T07:43:40Z`: UTC RFC 3339 to the second, as upstream names the backup. */
export function backupStamp(epochMs: number): string {
  return new Date(epochMs).toISOString().replace(/\.\d+Z$/, "Z");
}

export type BackupPlan =
  | { kind: "backup"; home: string; uid: number; ino: number; dev: number }
  | { kind: "skip"; reason: string }
  | { kind: "fail"; error: string };

function inside(child: string, parent: string): boolean {
  return child === parent || child.startsWith(parent.endsWith("/") ? parent : `${parent}/`);
}

function errorText(err: unknown): string {
  return (err as Error).message ?? String(err);
}

/** Why `dir` and every directory above it are not safe from other users, or undefined when they are. */
function unsafeChain(dir: string): string | undefined {
  for (let path = dir; ; path = dirname(path)) {
    const stat = lstatSync(path);
    if (!stat.isDirectory()) return `${path} is not a directory`;
    if (stat.uid !== 0) return `${path} is owned by uid ${stat.uid}, not root`;
    if ((stat.mode & 0o022) !== 0) return `${path} is writable by users other than root`;
    if (path === "/") return undefined;
  }
}

/** Creates (0700) and checks the backup directory; an error here stops the deletion before anything changed. */
function prepareBackupRoot(backupRoot: string): { ok: true; dev: number } | { ok: false; error: string } {
  try {
    mkdirSync(backupRoot, { recursive: true, mode: 0o700 });
  } catch (err) {
    return { ok: false, error: `Failed to create backup directory: ${errorText(err)}` };
  }
  try {
    const stat = lstatSync(backupRoot);
    if (stat.isSymbolicLink()) return { ok: false, error: `Failed to create backup directory: ${backupRoot} is a symbolic link` };
    const unsafe = unsafeChain(backupRoot);
    if (unsafe) return { ok: false, error: `Failed to create backup directory: ${unsafe}` };
    return { ok: true, dev: stat.dev };
  } catch (err) {
    return { ok: false, error: `Failed to create backup directory: ${errorText(err)}` };
  }
}

/**
 * Whether the user's home can be kept, checked before the user is deleted: `skip` is a note for the result
 * (the deletion goes on and the home stays where it is), `fail` stops the deletion (the backup directory
 * cannot be made safe).
 */
export function planHomeBackup(user: PasswdEntry, backupRoot = DELETED_USERS_DIR): BackupPlan {
  if (!user.home || !isAbsolute(user.home))
    return { kind: "skip", reason: `the user has no absolute home directory (${JSON.stringify(user.home)})` };
  const named = normalize(user.home).replace(/\/+$/, "") || "/";
  if (named === "/") return { kind: "skip", reason: "the user's home directory is /" };
  if (inside(backupRoot, named) || inside(named, backupRoot)) {
    return { kind: "skip", reason: `the home directory ${named} overlaps ${backupRoot}` };
  }
  let stat: Stats;
  try {
    stat = lstatSync(named);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return {
      kind: "skip",
      reason: code === "ENOENT" ? `the home directory ${named} does not exist` : `the home directory ${named} cannot be read (${code})`,
    };
  }
  if (stat.isSymbolicLink()) return { kind: "skip", reason: `the home directory ${named} is a symbolic link` };
  if (!stat.isDirectory()) return { kind: "skip", reason: `the home directory ${named} is not a directory` };
  // System accounts point at shared directories (sync's home is /bin); only a home the user owns is theirs to move.
  if (stat.uid !== user.uid) return { kind: "skip", reason: `the home directory ${named} is owned by uid ${stat.uid}, not by the user` };
  // The parent's real path (a symlinked /home is fine when root owns the whole chain).
  let home: string;
  try {
    home = join(realpathSync(dirname(named)), basename(named));
  } catch (err) {
    return { kind: "skip", reason: `the directory above ${named} cannot be resolved (${errorText(err)})` };
  }
  if (inside(backupRoot, home) || inside(home, backupRoot))
    return { kind: "skip", reason: `the home directory ${home} overlaps ${backupRoot}` };
  const unsafe = unsafeChain(dirname(home));
  if (unsafe) return { kind: "skip", reason: `the home directory ${named} was left in place because ${unsafe}` };
  const root = prepareBackupRoot(backupRoot);
  if (!root.ok) return { kind: "fail", error: root.error };
  if (root.dev !== stat.dev) return { kind: "skip", reason: `the home directory ${named} is on another file system than ${backupRoot}` };
  return { kind: "backup", home, uid: user.uid, ino: stat.ino, dev: stat.dev };
}

const OPEN_DIR = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;

/** Hands what `uid` owns under `dir` (itself included) to 0:0 without following symlinks; an error text or undefined. */
export type ChownTree = (dir: string, uid: number) => Promise<string | undefined>;

function freeBackupPath(backupRoot: string, user: string, stamp: string): string {
  let candidate = join(backupRoot, `${user}_${stamp}`);
  for (let n = 2; existsSync(candidate); n++) candidate = join(backupRoot, `${user}_${stamp}_${n}`);
  return candidate;
}

/**
 * Moves the planned home into the backup directory and hands the user's entries to root. Call only after
 * the user has been deleted. Returns the backup's path, or why the home (or part of it) was not kept.
 */
export async function backupHome(
  plan: Extract<BackupPlan, { kind: "backup" }>,
  user: string,
  epochMs: number,
  chownTree: ChownTree,
  backupRoot = DELETED_USERS_DIR,
): Promise<{ ok: true; backup: string } | { ok: false; error: string }> {
  try {
    const now = lstatSync(plan.home);
    if (!now.isDirectory() || now.ino !== plan.ino || now.dev !== plan.dev || now.uid !== plan.uid) {
      return { ok: false, error: `the home directory ${plan.home} changed while the user was being deleted and was left in place` };
    }
  } catch (err) {
    return { ok: false, error: `the home directory ${plan.home} cannot be read any more (${errorText(err)})` };
  }
  const backup = freeBackupPath(backupRoot, user, backupStamp(epochMs));
  try {
    renameSync(plan.home, backup);
  } catch (err) {
    return { ok: false, error: `Failed to move home directory: ${errorText(err)}` };
  }
  const failed = (why: string) => ({
    ok: false as const,
    error: `the home directory was moved to ${backup}, but handing it to root failed: ${why}`,
  });
  // The backup lies in a directory only root can enter: once it is checked to be the moved home, it stays so.
  let fd: number | undefined;
  try {
    fd = openSync(backup, OPEN_DIR);
    const opened = fstatSync(fd);
    if (opened.ino !== plan.ino || opened.dev !== plan.dev) return failed(`${backup} is not the home directory that was moved`);
  } catch (err) {
    return failed(errorText(err));
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  const problem = await chownTree(backup, plan.uid);
  return problem ? failed(problem) : { ok: true, backup };
}
