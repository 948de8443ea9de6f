// The shell capability: `shell: "system"` commands, run as the named user through exec/.
import type { Capability } from "../../commands/capability.ts";
import type { OpenChunks } from "../../commands/chunks.ts";
import { resolveIdentity, userEnvironment } from "../../exec/identity.ts";
import { runProcess } from "../../exec/run.ts";
import type { Logger } from "../../log/logger.ts";
import type { Clock } from "../../platform/clock.ts";
import { createSystemRunner } from "./system.ts";

export interface ShellDeps {
  log: Logger;
  clock: Clock;
  /** How long one `system` line may run (`[commands] shell_timeout`); default 30 minutes. */
  timeoutMs?: number;
  /** Streams a command's output to the console (agent.ts hands in the outbox's chunk series). */
  openChunks?: OpenChunks;
}

export function createShell(deps: ShellDeps): Capability {
  return {
    name: "shell",
    systemRunner: createSystemRunner({
      runProcess,
      resolveIdentity,
      userEnvironment,
      log: deps.log,
      clock: deps.clock,
      ...(deps.timeoutMs !== undefined ? { timeoutMs: deps.timeoutMs } : {}),
      ...(deps.openChunks ? { openChunks: deps.openChunks } : {}),
    }),
  };
}
