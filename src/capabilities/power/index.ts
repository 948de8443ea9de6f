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

/** Upstream's timeout for reboot and shutdown (upstream-2026 §2.4). */
const POWER_TIMEOUT_MS = 60_000;

export function createPower(deps: PowerDeps): Capability {
  return { name: "power", commands: powerCommands({ runProcess, ...deps }).map((spec) => ({ ...spec, timeoutMs: POWER_TIMEOUT_MS })) };
}
