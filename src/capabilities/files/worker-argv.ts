// How the agent starts its own binary as the file worker: `alpamon ftp-worker` when compiled, or Bun with
// the main script when run from source. One function, so tests can substitute their own entry point.

export const WORKER_SUBCOMMAND = "ftp-worker";

export function workerArgv(): string[] {
  const compiled = Bun.main.startsWith("/$bunfs/");
  return compiled ? [process.execPath, WORKER_SUBCOMMAND] : [process.execPath, Bun.main, WORKER_SUBCOMMAND];
}
