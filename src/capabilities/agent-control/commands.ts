// The agent's own commands: ping, help, quit, restart and reconnect. Each replies first and acts a second
// later, so the fin is queued (and, on quit/restart, delivered by the shutdown drain) before anything stops.
import { runProcess as defaultRunProcess } from "../../exec/run.ts";
import type { RunProcess } from "../../exec/types.ts";
import type { Lifecycle } from "../../platform/lifecycle.ts";
import type { Clock } from "../../platform/clock.ts";
import { formatLocalRfc3339Seconds } from "../../platform/time.ts";
import { type AnyCommandSpec, fail, ok } from "../../commands/contract.ts";
import type { CommandRegistry } from "../../commands/registry.ts";
import { byebye, type ByebyeDeps } from "./byebye.ts";

/** Upstream's timeout for quit, restart and byebye (upstream-2026 §2.4). */
const AGENT_ACTION_TIMEOUT_MS = 60_000;

export interface AgentCommandDeps {
  registry: CommandRegistry;
  lifecycle: Lifecycle;
  clock: Clock;
  /** Closes the backhaul and dials again. */
  reconnect: (reason: string) => void;
  /** Rebuilds the metrics collector; absent until the metrics pipeline is wired. */
  restartCollector?: () => void;
  /** Delay between the reply and the action. */
  actionDelayMs?: number;
  /** For byebye: the console link's HTTP client (byebye is refused without it). */
  http?: ByebyeDeps["http"];
  /** For byebye's package-manager probes and the removal; default exec/run.ts. */
  runProcess?: RunProcess;
  /** byebye's package-manager probes, for tests. */
  byebye?: Pick<ByebyeDeps, "binaryPath" | "hasSystemd" | "hasProgram">;
}

export function agentCommands(deps: AgentCommandDeps): AnyCommandSpec[] {
  const delay = deps.actionDelayMs ?? 1000;
  const later = (action: () => void) => {
    void deps.clock.sleep(delay, deps.lifecycle.signal).then(action, () => {});
  };
  const restartCollector = (): ReturnType<typeof ok> => {
    if (!deps.restartCollector) return fail("The metrics collector is not running.");
    later(deps.restartCollector);
    return ok("Collector will be restarted.");
  };

  return [
    {
      name: "ping",
      summary: "reply with the server's local time (RFC 3339)",
      run: () => ok(formatLocalRfc3339Seconds(deps.clock.now())),
    },
    {
      name: "help",
      summary: "list the commands this agent accepts",
      run: () => {
        const lines = deps.registry.list().map((h) => `\t\t${h.name}: ${h.summary}`);
        return ok(["", "\t\tAvailable commands:", ...lines, ""].join("\n"));
      },
    },
    {
      name: "quit",
      summary: "stop alpamon (the service manager decides whether it comes back)",
      timeoutMs: AGENT_ACTION_TIMEOUT_MS,
      run: () => {
        later(() => deps.lifecycle.requestStop({ kind: "quit" }));
        return ok("Alpamon will shutdown in 1 second.");
      },
    },
    {
      name: "restart",
      summary: "restart alpamon in place; `restart collector` rebuilds the metrics collector",
      timeoutMs: AGENT_ACTION_TIMEOUT_MS,
      run: (_data, ctx) => {
        if (ctx.args[0] === "collector") return restartCollector();
        later(() => deps.lifecycle.requestStop({ kind: "restart" }));
        return ok("Alpamon will restart in 1 second.");
      },
    },
    {
      name: "restartcoll",
      summary: "same as `restart collector`",
      timeoutMs: AGENT_ACTION_TIMEOUT_MS,
      run: () => restartCollector(),
    },
    {
      name: "byebye",
      summary: "unregister from the console, remove the alpamon package and stop",
      timeoutMs: AGENT_ACTION_TIMEOUT_MS,
      run: byebye({
        ...deps.byebye,
        ...(deps.http ? { http: deps.http } : {}),
        lifecycle: deps.lifecycle,
        clock: deps.clock,
        runProcess: deps.runProcess ?? defaultRunProcess,
        delayMs: delay,
      }),
    },
    {
      name: "reconnect",
      summary: "close the backhaul connection and dial the console again",
      run: () => {
        later(() => deps.reconnect("reconnect command"));
        return ok("Alpamon will reconnect in 1 second.");
      },
    },
  ];
}
