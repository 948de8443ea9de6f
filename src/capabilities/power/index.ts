// reboot and shutdown: reply first, act a second later.
import type { Capability } from "../../commands/capability.ts";
import { runProcess } from "../../exec/run.ts";
import type { Logger } from "../../log/logger.ts";
import type { Clock } from "../../platform/clock.ts";
import { powerCommands } from "./power.ts";

export interface PowerDeps {
  clock: Clock;
  log: Logger;
  signal: AbortSignal;
}

export function createPower(deps: PowerDeps): Capability {
  return { name: "power", commands: powerCommands({ runProcess, ...deps }) };
}
