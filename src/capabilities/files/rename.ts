// rename(2) that never replaces: renameat2(RENAME_NOREPLACE) through bun:ffi, so "no overwrite" is decided by
// the kernel in one step (no check-then-rename race). Falls back to link+unlink for files where it is missing.
import { ptr } from "bun:ffi";
import { linkSync, lstatSync, renameSync, unlinkSync } from "node:fs";
import { AT_FDCWD, lastErrno, libcRename, RENAME_NOREPLACE } from "../../platform/libc.ts";

const ERRNO: Record<number, string> = {
  1: "EPERM",
  2: "ENOENT",
  13: "EACCES",
  16: "EBUSY",
  17: "EEXIST",
  18: "EXDEV",
  20: "ENOTDIR",
  21: "EISDIR",
  22: "EINVAL",
  28: "ENOSPC",
  30: "EROFS",
  31: "EMLINK",
  36: "ENAMETOOLONG",
  38: "ENOSYS",
  39: "ENOTEMPTY",
  40: "ELOOP",
};

function errnoError(code: string, src: string, dst: string): NodeJS.ErrnoException {
  const err = new Error(`${code}: rename ${src} ${dst}`) as NodeJS.ErrnoException;
  err.code = code;
  return err;
}

/** Renames src to dst, or throws EEXIST when dst exists (atomically where the kernel supports it). */
export function renameNoReplace(src: string, dst: string): void {
  const libc = libcRename();
  if (libc) {
    const a = Buffer.from(`${src}\0`);
    const b = Buffer.from(`${dst}\0`);
    if (libc.renameat2(AT_FDCWD, ptr(a), AT_FDCWD, ptr(b), RENAME_NOREPLACE) === 0) return;
    const code = ERRNO[lastErrno()] ?? "EIO";
    if (code !== "EINVAL" && code !== "ENOSYS") throw errnoError(code, src, dst);
  }
  // No renameat2 (or a filesystem without RENAME_NOREPLACE): files go through link(2), which never replaces.
  if (!lstatSync(src).isDirectory()) {
    linkSync(src, dst);
    unlinkSync(src);
    return;
  }
  try {
    lstatSync(dst);
    throw errnoError("EEXIST", src, dst);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
  }
  renameSync(src, dst);
}
