// File-manager errors: system error codes (never message text) mapped to the reference's Go-style messages
// ("mkdir /x: file exists") and to the FTP reply codes of sessions.md §2.3. Pure; never touches the disk.

export type FtpOp = "list" | "mkd" | "cwd" | "pwd" | "dele" | "rmd" | "mv" | "cp" | "chmod" | "chown";

/** Go's strerror texts, which the console UI shows and matches on. */
const STRERROR: Record<string, string> = {
  ENOENT: "no such file or directory",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  EEXIST: "file exists",
  ENOTEMPTY: "directory not empty",
  ENOTDIR: "not a directory",
  EISDIR: "is a directory",
  EINVAL: "invalid argument",
  EXDEV: "invalid cross-device link",
  ENAMETOOLONG: "file name too long",
  ELOOP: "too many levels of symbolic links",
  EROFS: "read-only file system",
  ENOSPC: "no space left on device",
  EDQUOT: "disk quota exceeded",
  EBUSY: "device or resource busy",
  EMLINK: "too many links",
  EIO: "input/output error",
  ETXTBSY: "text file busy",
};

/** An error the file manager reports: a system code (ENOENT…) or one of its own (EDEPTH, ERECURSION). */
export class FileError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

export function strerror(code: string): string {
  return STRERROR[code] ?? code.toLowerCase();
}

/** `<op> <path>: <strerror>`; any thrown value becomes a FileError with a code. */
export function toFileError(err: unknown, op: string, path: string, path2?: string): FileError {
  if (err instanceof FileError) return err;
  const code = (err as NodeJS.ErrnoException)?.code ?? "EIO";
  const where = path2 === undefined ? path : `${path} ${path2}`;
  return new FileError(code, `${op} ${where}: ${strerror(code)}`);
}

const INVALID_452 = new Set<FtpOp>(["mkd", "dele", "rmd", "mv", "cp", "chmod", "chown"]);
const EXISTS_552 = new Set<FtpOp>(["mkd", "mv", "cp"]);

/** The reply code for an error of `op`, by code; 550 when the table has nothing. */
export function replyCode(op: FtpOp, code: string): number {
  if (code === "EACCES" || code === "EPERM") return 450;
  if (code === "EDEPTH") return op === "list" ? 452 : 550;
  if (code === "EINVAL") return INVALID_452.has(op) ? 452 : 550;
  if (code === "EEXIST") return EXISTS_552.has(op) ? 552 : 550;
  if (code === "ENOTEMPTY") return op === "rmd" ? 552 : 550;
  if (code === "ERECURSION") return op === "cp" ? 553 : 550;
  return 550;
}
