// Every command family the agent accepts, registered in one place. Adding a family = one file in
// commands/ and one line here; the dispatcher never changes.
import type { Logger } from "../log/logger.ts";
import type { Clock } from "../platform/clock.ts";
import type { Lifecycle } from "../platform/lifecycle.ts";
import { readPlatform, type Platform } from "../platform/os-release.ts";
import { lookupGroup, lookupUser, resolveIdentity, userEnvironment } from "../exec/identity.ts";
import { runProcess } from "../exec/run.ts";
import { agentCommands } from "../capabilities/agent-control/commands.ts";
import type { SystemRunner } from "./dispatcher.ts";
import { lazyFamily, PACKAGE_SPECS, USER_SPECS } from "./lazy.ts";
import { powerCommands } from "../capabilities/power/power.ts";
import type { CommandHandler, CommandRegistry } from "./registry.ts";
import { createSystemRunner } from "../capabilities/shell/system.ts";

export interface CatalogDeps {
  registry: CommandRegistry;
  lifecycle: Lifecycle;
  clock: Clock;
  log: Logger;
  version: string;
  reconnect: (reason: string) => void;
  /** Asks the inventory to sync users and groups; a no-op until inventory is wired. */
  syncUsersAndGroups: () => void;
  restartCollector?: () => void;
  /** Handlers built elsewhere because other parts share their state (firewall, inventory, terminals, files). */
  extra?: CommandHandler[];
}

/** Registers every internal command and returns the runner for `shell: "system"` commands. */
export function registerCommands(deps: CatalogDeps): SystemRunner {
  let platform: Platform | undefined;
  const currentPlatform = () => (platform ??= readPlatform());
  const { registry, lifecycle, clock, log } = deps;
  registry.register(
    ...agentCommands({ registry, lifecycle, clock, reconnect: deps.reconnect, ...(deps.restartCollector ? { restartCollector: deps.restartCollector } : {}) }),
    ...lazyFamily(USER_SPECS, async () =>
      (await import("../capabilities/users/users.ts")).userCommands({ runProcess, lookupUser, lookupGroup, platform: currentPlatform, syncUsersAndGroups: deps.syncUsersAndGroups, clock, log: log.child("users") }),
    ),
    ...lazyFamily(PACKAGE_SPECS, async () =>
      (await import("../capabilities/packages/packages.ts")).packageCommands({ runProcess, family: () => currentPlatform().family, version: deps.version, log: log.child("packages"), now: clock.now }),
    ),
    ...powerCommands({ runProcess, clock, log: log.child("power"), signal: lifecycle.signal }),
    ...(deps.extra ?? []),
  );
  return createSystemRunner({ runProcess, resolveIdentity, userEnvironment, log: log.child("system"), clock });
}
