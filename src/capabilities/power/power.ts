// `reboot` and `shutdown`: reply first, then act about a second later, really (the reference's plain
// `shutdown` scheduled a power-off a minute later). A failure to act is logged, since the fin is already sent.
import { existsSync } from "node:fs";
import type { Logger } from "../../log/logger.ts";
import type { Clock } from "../../platform/clock.ts";
import type { RunProcess } from "../../exec/types.ts";
import { type AnyCommandSpec, ok } from "../../commands/contract.ts";

const POWER_ENV = { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", LANG: "C.UTF-8" };

/**
 * systemctl where systemd runs, else the classic shutdown(8), both acting now. That is upstream-2026 §10.1's
 * `shutdown now`: on systemd `shutdown now` is `systemctl poweroff`; on sysvinit a bare `shutdown now` would
 * only go to single-user mode, so `-h` is spelled out.
 */
export function powerArgv(action: "reboot" | "poweroff", systemd: boolean): string[] {
  if (systemd) return ["systemctl", action];
  return ["shutdown", action === "reboot" ? "-r" : "-h", "now"];
}

export interface PowerCommandDeps {
  runProcess: RunProcess;
  clock: Clock;
  log: Logger;
  signal: AbortSignal;
  hasSystemd?: () => boolean;
  delayMs?: number;
}

export function powerCommands(deps: PowerCommandDeps): AnyCommandSpec[] {
  const hasSystemd = deps.hasSystemd ?? (() => existsSync("/run/systemd/system"));
  const act = (action: "reboot" | "poweroff") => {
    void deps.clock.sleep(deps.delayMs ?? 1000, deps.signal).then(
      async () => {
        const argv = powerArgv(action, hasSystemd());
        const r = await deps.runProcess({ argv, env: POWER_ENV, timeoutMs: 60_000, maxOutputBytes: 64 * 1024 });
        if (r.exitCode !== 0) deps.log.error(`${action} failed`, { command: argv.join(" "), output: (r.startError ?? r.output).trim() });
      },
      () => {},
    );
  };
  return [
    {
      name: "reboot",
      summary: "reboot the server",
      run: () => {
        act("reboot");
        return ok("Server will reboot in 1 second");
      },
    },
    {
      name: "shutdown",
      summary: "power the server off",
      run: () => {
        act("poweroff");
        return ok("Server will shutdown in 1 second");
      },
    },
  ];
}
