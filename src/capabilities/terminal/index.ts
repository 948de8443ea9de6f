// Websh terminals: openpty and resizepty (loaded on first use), and a part that closes every open terminal
// when the agent stops.
import type { Capability } from "../../commands/capability.ts";
import { lazyFamily, type LazySpec } from "../../commands/lazy.ts";
import type { ConsoleHttp } from "../../console/http.ts";
import type { Logger } from "../../log/logger.ts";
import type { Clock } from "../../platform/clock.ts";
import type { Part } from "../../platform/lifecycle.ts";
import { DEFAULT_MAX_TERMINALS, TerminalRegistry } from "./registry.ts";

export const TERMINAL_SPECS: readonly LazySpec[] = [
  { name: "openpty", summary: "Open a websh terminal: the user's login shell on a PTY, bridged to the console" },
  { name: "resizepty", summary: "Resize an open websh terminal" },
  { name: "refreshpty", summary: "Redraw an open websh terminal (SIGWINCH to its foreground programs)" },
];

export interface TerminalCapabilityDeps {
  http: ConsoleHttp;
  log: Logger;
  clock: Clock;
}

export function createTerminal(deps: TerminalCapabilityDeps): Capability & { parts: Part[] } {
  const registry = new TerminalRegistry(DEFAULT_MAX_TERMINALS);
  return {
    name: "terminal",
    commands: lazyFamily(TERMINAL_SPECS, async () => (await import("./commands.ts")).terminalCommands({ ...deps, registry })),
    parts: [{ name: "terminals", start() {}, stop: () => registry.closeAll("the agent is stopping") }],
  };
}
