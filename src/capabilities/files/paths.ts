// Path resolution for the file manager and transfers: "~" and "~/x" mean the user's home, "~name" that
// user's home, relative paths join the working directory; the result is absolute and lexically clean.
// Never resolves symlinks and never confines: the kernel decides what the user may reach.
import { isAbsolute, join, resolve } from "node:path";
import { FileError } from "./errors.ts";

export interface PathBase {
  home: string;
  /** The working directory (the home until `cwd` changes it). */
  wd: string;
  /** Home of another user for "~name"; undefined when unknown. */
  homeOf?: (name: string) => string | undefined;
}

/** Resolves a console path; throws FileError EINVAL for NUL bytes or a non-string. */
export function resolvePath(raw: unknown, base: PathBase, op = "stat"): string {
  if (raw === undefined || raw === null) raw = "";
  if (typeof raw !== "string") throw new FileError("EINVAL", `${op}: path must be a string: invalid argument`);
  if (raw.includes("\0")) throw new FileError("EINVAL", `${op} ${JSON.stringify(raw)}: invalid argument`);
  let path = raw;
  if (path === "~" || path.startsWith("~/")) path = base.home + path.slice(1);
  else if (path.startsWith("~")) {
    const slash = path.indexOf("/");
    const name = slash < 0 ? path.slice(1) : path.slice(1, slash);
    const home = base.homeOf?.(name);
    if (home === undefined) throw new FileError("ENOENT", `${op} ${path}: no such file or directory`);
    path = home + (slash < 0 ? "" : path.slice(slash));
  }
  if (path === "") return resolve(base.wd || "/");
  return isAbsolute(path) ? resolve(path) : resolve(join(base.wd || base.home || "/", path));
}
