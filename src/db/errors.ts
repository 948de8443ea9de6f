// The one error type the state database throws, with a message a person can act on.
// Never let a raw SQLiteError or errno error escape src/db/: wrap it with the path and the problem.

export class StateDbError extends Error {
  override readonly name = "StateDbError";

  constructor(
    /** The database file (or directory) the problem is about. */
    readonly path: string,
    /** What went wrong, in words; the message is `state database <path>: <problem>`. */
    readonly problem: string,
    options?: { cause?: unknown },
  ) {
    super(`state database ${path}: ${problem}`, options);
  }
}

const ERRNO_PROBLEMS: Record<string, string> = {
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  EROFS: "read-only file system",
  ENOTDIR: "a component of the path is not a directory",
  EISDIR: "is a directory",
  ENOSPC: "no space left on device",
  EDQUOT: "disk quota exceeded",
  ELOOP: "too many symbolic links",
  ENAMETOOLONG: "path too long",
};

const SQLITE_PROBLEMS: Record<string, string> = {
  SQLITE_BUSY: "locked by another process for longer than the busy timeout",
  SQLITE_LOCKED: "locked by another connection",
  SQLITE_NOTADB: "the file is not a SQLite database (move it aside to start with a fresh one)",
  SQLITE_CORRUPT: "the database file is corrupt (move it aside to start with a fresh one)",
  SQLITE_READONLY: "the database is read-only (check the permissions of the file and its directory)",
  SQLITE_CANTOPEN: "cannot open the database file (check that the directory exists and is writable)",
  SQLITE_FULL: "the disk is full",
  SQLITE_IOERR: "I/O error",
  SQLITE_PERM: "access permission denied",
};

/** Words for an errno or SQLite error; falls back to the error's own message, never to its stack. */
export function describeError(err: unknown): string {
  if (err instanceof StateDbError) return err.problem;
  const e = (err ?? {}) as { code?: unknown; syscall?: unknown; path?: unknown; message?: unknown };
  const message = typeof e.message === "string" ? e.message : String(err);
  if (typeof e.code !== "string") return message;
  if (e.code.startsWith("SQLITE_")) {
    const words = SQLITE_PROBLEMS[e.code.split("_").slice(0, 2).join("_")];
    return words ? `${words} (${e.code}: ${message})` : `${message} (${e.code})`;
  }
  const words = ERRNO_PROBLEMS[e.code] ?? message;
  const where = typeof e.syscall === "string" && typeof e.path === "string" ? `: ${e.syscall} ${e.path}` : "";
  return `${words} (${e.code}${where})`;
}

/** Wraps anything thrown while working on `path`, keeping an existing StateDbError as it is. */
export function toStateDbError(path: string, doing: string, err: unknown): StateDbError {
  if (err instanceof StateDbError) return err;
  return new StateDbError(path, `${doing}: ${describeError(err)}`, { cause: err });
}

/** The code of a write that failed for want of space (SQLITE_FULL, ENOSPC, EDQUOT), looking through causes. */
export function diskFullCode(err: unknown): string | undefined {
  let e: unknown = err;
  for (let depth = 0; depth < 5 && e && typeof e === "object"; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && (code.startsWith("SQLITE_FULL") || code === "ENOSPC" || code === "EDQUOT")) return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}
