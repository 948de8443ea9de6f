// The agent's own commands: ping, help, quit, restart (of the agent or its collector), byebye and reconnect. Each replies first and acts a second
// later, so the fin is queued (and, on quit/restart, delivered by the shutdown drain) before anything stops.
import { runProcess as defaultRunProcess } from "../../exec/run.ts";
import type { RunProcess } from "../../exec/types.ts";
import type { Lifecycle } from "../../platform/lifecycle.ts";
import type { Clock } from "../../platform/clock.ts";
import { formatLocalRfc3339Seconds } from "../../platform/time.ts";
import * as v from "valibot";
import { type AnyCommandSpec, command, fail, ok } from "../../commands/contract.ts";
import type { CommandRegistry } from "../../commands/registry.ts";
import { byebye, type ByebyeDeps } from "./byebye.ts";
import { helpText } from "./help.ts";

/** Upstream's timeout for quit, restart and byebye (upstream-2026 §2.4). */
const AGENT_ACTION_TIMEOUT_MS = 60_000;

/** `restart`'s data: which part to restart; anything but "collector" (or nothing) means the agent itself. */
const RestartData = v.object({ target: v.optional(v.nullable(v.string("must be a string"))) });

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
      summary: "list the commands this agent accepts, by section",
      run: () => ok(helpText(deps.registry.list())),
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
    command({
      name: "restart",
      summary: 'restart alpamon in place; data {"target":"collector"} (or `restart collector`) rebuilds the metrics collector',
      timeoutMs: AGENT_ACTION_TIMEOUT_MS,
      data: RestartData,
      run: (data, ctx) => {
        // upstream-2026 §10.1 takes the target from data only, so there `restart collector` on the line restarts
        // the whole agent. An older console (core.md §4.4) still sends that line meaning the collector; restarting
        // the agent instead would be a surprising, heavier action, so the line's word is kept as a fallback when
        // data names no target. data.target wins when both are given. `restartcoll` is gone, as upstream: no
        // console dialect sends it (console-dialects.md §4 and §8 list only `restart[ collector]`).
        const target = data.target ?? ctx.args[0];
        if (target === "collector") return restartCollector();
        later(() => deps.lifecycle.requestStop({ kind: "restart" }));
        return ok("Alpamon will restart in 1 second.");
      },
    }) as AnyCommandSpec,
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
