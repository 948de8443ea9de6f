// How the agent starts its own binary as the file worker: `alpamon ftp-worker` when compiled, or Bun with
// the main script when run from source. One function, so tests can substitute their own entry point.
import { selfArgv } from "../../platform/self.ts";

export const WORKER_SUBCOMMAND = "ftp-worker";

export function workerArgv(): string[] {
  return selfArgv([WORKER_SUBCOMMAND]);
}
