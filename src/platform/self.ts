// How this program starts itself again (a restart in place, the file worker): a compiled binary carries its
// entry as `/$bunfs/...` and takes its arguments directly; a source run needs Bun and the main script.

/** True inside a `bun build --compile` binary. */
export function isCompiledBinary(): boolean {
  return Bun.main.startsWith("/$bunfs/");
}

/** argv that runs this same program with `args`. */
export function selfArgv(args: readonly string[]): string[] {
  return isCompiledBinary() ? [process.execPath, ...args] : [process.execPath, Bun.main, ...args];
}
