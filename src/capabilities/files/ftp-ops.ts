// The file manager's operations other than list and cp: mkd, cwd, pwd, dele, rmd, mv, chmod and chown, with
// the reference's success messages. Each takes resolved absolute paths and throws FileError on failure;
// the worker runs them as the user, so every permission is the kernel's decision.
import { chmodSync, chownSync, lchownSync, lstatSync, mkdirSync, readdirSync, rmdirSync, rmSync, statSync, unlinkSync } from "node:fs";
import type { Stats } from "node:fs";
import { join } from "node:path";
import type { Accounts } from "./accounts.ts";
import { copy, copyName, exists, isInside, replace } from "./ftp-copy.ts";
import { FileError, toFileError } from "./errors.ts";
import { renameNoReplace } from "./rename.ts";

export function makeDir(path: string): string {
  try {
    mkdirSync(path, { mode: 0o755 });
  } catch (err) {
    throw toFileError(err, "mkdir", path);
  }
  return `Make ${path} successfully.`;
}

export function checkDir(path: string): void {
  let st: Stats;
  try {
    st = statSync(path);
  } catch (err) {
    throw toFileError(err, "stat", path);
  }
  if (!st.isDirectory()) throw new FileError("ENOTDIR", "not a directory");
}

/** Go's os.Remove: unlink, else rmdir; the rmdir error wins unless it only says "not a directory". */
export function remove(path: string): void {
  try {
    unlinkSync(path);
    return;
  } catch (unlinkErr) {
    try {
      rmdirSync(path);
    } catch (rmdirErr) {
      const e = (rmdirErr as NodeJS.ErrnoException).code === "ENOTDIR" ? unlinkErr : rmdirErr;
      throw toFileError(e, "remove", path);
    }
  }
}

export function removeDir(path: string, recursive: boolean): void {
  try {
    lstatSync(path);
  } catch (err) {
    throw toFileError(err, "stat", path);
  }
  if (!recursive) {
    remove(path);
    return;
  }
  try {
    rmSync(path, { recursive: true }); // never follows symlinks
  } catch (err) {
    throw toFileError(err, "remove", (err as NodeJS.ErrnoException).path ?? path);
  }
}

/** Moves src to dst; without allowOverwrite an existing dst gets the copy name instead. Returns the final dst. */
export function move(src: string, dst: string, allowOverwrite: boolean): string {
  try {
    lstatSync(src);
  } catch (err) {
    throw toFileError(err, "rename", src, dst);
  }
  if (lstatSync(src).isDirectory() && isInside(dst, src) && dst !== src) {
    throw new FileError("EINVAL", `rename ${src} ${dst}: invalid argument`);
  }
  let target = dst;
  if (!allowOverwrite && exists(dst)) target = copyName(src, dst);
  try {
    if (allowOverwrite && exists(target) && target !== src) replace(src, target);
    else renameNoReplace(src, target);
    return target;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EXDEV") throw toFileError(err, "rename", src, target);
  }
  // Another filesystem: copy, then remove the source only once the copy is in place.
  const final = copy(src, target, allowOverwrite);
  removeDir(src, true);
  return final;
}

/** Parses an octal mode string ("755", "4755", "0644"); setuid, setgid and sticky are kept. */
export function parseMode(text: unknown): number {
  if (typeof text !== "string" || !/^0?[0-7]{1,4}$/.test(text)) {
    throw new FileError("EINVAL", `mode ${JSON.stringify(text ?? "")} is not an octal permission such as "755": invalid argument`);
  }
  return parseInt(text, 8) & 0o7777;
}

/** Walks a tree children-first without following symlinks, so taking x away from a directory cannot stop the walk. */
function walk(path: string, visit: (p: string) => void): void {
  const st = lstatSync(path);
  if (st.isSymbolicLink()) return;
  if (st.isDirectory()) for (const name of readdirSync(path)) walk(join(path, name), visit);
  visit(path);
}

export function changeMode(path: string, mode: number, recursive: boolean): string {
  try {
    if (recursive) walk(path, (p) => chmodSync(p, mode));
    else chmodSync(path, mode);
  } catch (err) {
    throw toFileError(err, "chmod", (err as NodeJS.ErrnoException).path ?? path);
  }
  return `Changed permissions of ${path} to ${mode.toString(8)}${recursive ? " recursively" : ""}`;
}

export function changeOwner(path: string, username: unknown, groupname: unknown, recursive: boolean, accounts: Accounts): string {
  const uid = typeof username === "string" && username !== "" ? accounts.uidOf(username) : -1;
  const gid = typeof groupname === "string" && groupname !== "" ? accounts.gidOf(groupname) : -1;
  if (uid === undefined) throw new FileError("ENOUSER", `user: unknown user ${String(username)}`);
  if (gid === undefined) throw new FileError("ENOGROUP", `group: unknown group ${String(groupname)}`);
  try {
    if (recursive) walk(path, (p) => lchownSync(p, uid, gid));
    else chownSync(path, uid, gid);
  } catch (err) {
    throw toFileError(err, "chown", (err as NodeJS.ErrnoException).path ?? path);
  }
  return `Changed owner of ${path} to UID: ${uid}, GID: ${gid}${recursive ? " recursively" : ""}`;
}
