// The shell capability: `shell: "system"` commands, run as the named user through exec/. The runner (the line
// parser, the output stream and the runner itself) is loaded on the first `system` command, not at start, as
// the command families are (commands/lazy.ts): an idle agent does not hold its code.
import type { Capability } from "../../commands/capability.ts";
import type { OpenChunks } from "../../commands/chunks.ts";
import type { SystemRunner } from "../../commands/dispatcher.ts";
import { loadOnce } from "../../commands/lazy.ts";
import { resolveIdentity, userEnvironment } from "../../exec/identity.ts";
import { runProcess } from "../../exec/run.ts";
import type { Logger } from "../../log/logger.ts";
import type { Clock } from "../../platform/clock.ts";

export interface ShellDeps {
  log: Logger;
  clock: Clock;
  /** How long one `system` line may run (`[commands] shell_timeout`); default 30 minutes. */
  timeoutMs?: number;
  /** Streams a command's output to the console (agent.ts hands in the outbox's chunk series). */
  openChunks?: OpenChunks;
}

export function createShell(deps: ShellDeps): Capability {
  // A failed load is tried again by the next command.
  const runner = loadOnce(async () =>
    (await import("./system.ts")).createSystemRunner({
      runProcess,
      resolveIdentity,
      userEnvironment,
      log: deps.log,
      clock: deps.clock,
      ...(deps.timeoutMs !== undefined ? { timeoutMs: deps.timeoutMs } : {}),
      ...(deps.openChunks ? { openChunks: deps.openChunks } : {}),
    }),
  );
  return {
    name: "shell",
    async systemRunner(command, signal, ack) {
      let run: SystemRunner;
      try {
        run = await runner();
      } catch (err) {
        return { exitCode: 1, result: `system command: could not load the runner: ${err instanceof Error ? err.message : String(err)}` };
      }
      return run(command, signal, ack);
    },
  };
}
