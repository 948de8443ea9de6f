// `rm` (upstream-2026 §10.1): removes the exec wrapper the console stages with `download` for a large command,
// `/tmp/.alpacon-exec-<lower hex>.sh`, and nothing else. It is an internal command, so unsigned: the pattern
// is the only guard, checked on the cleaned path, and the removal is one unlink(2), which never follows a
// symbolic link (a staged name that is a link loses the link; its target is untouched).
import { unlinkSync } from "node:fs";
import { posix } from "node:path";
import * as v from "valibot";
import { type CommandResult, fail, ok } from "../../commands/contract.ts";

const STAGED_EXEC = /^\/tmp\/\.alpacon-exec-[0-9a-f]+\.sh$/;

export const RmData = v.object({ path: v.string("must be a string") });

/** Go's path.Clean for the paths that matter here: `.`, `..` and repeated or trailing slashes resolved lexically. */
function cleanPath(raw: string): string {
  if (raw === "") return ".";
  const normalized = posix.normalize(raw);
  return normalized.length > 1 ? normalized.replace(/\/+$/, "") : normalized;
}

/** The staged exec wrapper's path, cleaned, or undefined for anything else. */
function stagedExecPath(raw: string): string | undefined {
  const cleaned = cleanPath(raw);
  return STAGED_EXEC.test(cleaned) ? cleaned : undefined;
}

const ERRNO_TEXT: Record<string, string> = {
  EISDIR: "is a directory",
  EPERM: "operation not permitted",
  EACCES: "permission denied",
  EBUSY: "device or resource busy",
  EROFS: "read-only file system",
  ENOTDIR: "not a directory",
};

export function runRm(data: v.InferOutput<typeof RmData>): CommandResult {
  const path = stagedExecPath(data.path);
  if (!path) return fail(`rm: refusing to remove path outside staging namespace: ${data.path}`);
  try {
    unlinkSync(path);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === "ENOENT") return ok(`${path} does not exist; nothing to remove.`);
    return fail(`remove ${path}: ${(e.code && ERRNO_TEXT[e.code]) ?? e.message}`);
  }
  return ok(`Successfully removed ${path}.`);
}
