// `cp` and the copy-name rule of the file manager: files and trees, symlinks inside a tree copied as links,
// never a silent overwrite (new files are created exclusively), never a copy into itself, and a bounded
// search for a free "name (n).ext". Runs as the user, so the kernel decides what may be read and written.
import { constants, copyFileSync, lstatSync, mkdirSync, readdirSync, readlinkSync, rmSync, statSync, symlinkSync } from "node:fs";
import type { Stats } from "node:fs";
import { basename, dirname, extname, join, relative, isAbsolute } from "node:path";
import { FileError, toFileError } from "./errors.ts";
import { renameNoReplace } from "./rename.ts";

export const MAX_COPY_NAMES = 1000;

/** `<dir(dst)>/<stem(src)> (<i>)<ext(src)>` for the first i that does not exist (sessions.md §2.5). */
export function copyName(src: string, dst: string): string {
  const name = basename(src);
  const ext = extname(name) || (name.startsWith(".") ? name : "");
  const stem = ext === name ? "" : name.slice(0, name.length - ext.length);
  for (let i = 1; i <= MAX_COPY_NAMES; i++) {
    const candidate = join(dirname(dst), `${stem} (${i})${ext}`);
    try {
      lstatSync(candidate);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return candidate;
      throw toFileError(err, "stat", candidate);
    }
  }
  throw new FileError("EEXIST", `${dst}: no free copy name after ${MAX_COPY_NAMES} tries: file exists`);
}

export function exists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return false;
    throw toFileError(err, "stat", path);
  }
}

/** True when `inner` is `outer` or lies below it (by path segments, so "a/..b" is not "a/.."). */
export function isInside(inner: string, outer: string): boolean {
  const rel = relative(outer, inner);
  return rel === "" || (!isAbsolute(rel) && rel !== ".." && !rel.startsWith("../"));
}

function copyTree(src: string, dst: string): void {
  const st = lstatSync(src);
  if (st.isSymbolicLink()) {
    symlinkSync(readlinkSync(src), dst);
    return;
  }
  if (st.isDirectory()) {
    mkdirSync(dst, { mode: st.mode & 0o7777 });
    for (const name of readdirSync(src)) copyTree(join(src, name), join(dst, name));
    return;
  }
  if (!st.isFile()) throw new FileError("EINVAL", `copy ${src}: not a regular file: invalid argument`);
  copyFileSync(src, dst, constants.COPYFILE_EXCL);
}

/** Copies src (following a top-level symlink) to dst; returns the final destination. */
export function copy(src: string, dst: string, allowOverwrite: boolean): string {
  let top: Stats;
  try {
    top = statSync(src);
  } catch (err) {
    throw toFileError(err, "stat", src);
  }
  let target = dst;
  if (src === dst || (!allowOverwrite && exists(dst))) target = copyName(src, dst);
  if (top.isDirectory() && isInside(target, src)) {
    throw new FileError("ERECURSION", `${target} is inside ${src}, causing infinite recursion`);
  }
  const replacing = allowOverwrite && exists(target);
  // Build next to the target, then move it into place: a failure never leaves a half copy under the name.
  const temp = join(dirname(target), `.${basename(target)}.alpamon-${crypto.randomUUID().slice(0, 8)}`);
  try {
    if (top.isDirectory()) copyTree(src, temp);
    else copyFileSync(src, temp, constants.COPYFILE_EXCL);
  } catch (err) {
    rmSync(temp, { recursive: true, force: true });
    throw toFileError(err, "copy", src, target);
  }
  try {
    if (replacing) replace(temp, target);
    else renameNoReplace(temp, target);
  } catch (err) {
    rmSync(temp, { recursive: true, force: true });
    throw toFileError(err, "rename", temp, target);
  }
  return target;
}

/** Puts `temp` at `target`, keeping the old target aside until the swap succeeded. */
export function replace(temp: string, target: string): void {
  const aside = `${temp}.old`;
  renameNoReplace(target, aside);
  try {
    renameNoReplace(temp, target);
  } catch (err) {
    renameNoReplace(aside, target);
    throw err;
  }
  rmSync(aside, { recursive: true, force: true });
}
