// The firewall capability's entry: builds the service once and hands out its commands and the sync
// collector. Holds no module-level state; everything it needs comes in through `deps`.
import type { Capability } from "../../commands/capability.ts";
import type { AnyCommandSpec } from "../../commands/contract.ts";
import { firewallCommand, rollbackCommand } from "./commands.ts";
import { groupCommands } from "./group-commands.ts";
import { FirewallService, type FirewallDeps } from "./service.ts";
import { syncChains, type SyncChain } from "./sync.ts";

export type { FirewallDeps } from "./service.ts";

/** Upstream's firewall handler timeout (upstream-2026 §2.4), for every firewall command. */
const FIREWALL_TIMEOUT_MS = 2 * 60_000;
export type { SyncChain } from "./sync.ts";

export interface Firewall extends Capability {
  commands: AnyCommandSpec[];
  /** The agent's own rules for `/api/firewall/agent/sync/` ([] when no backend is usable). */
  collectFirewallChains(): Promise<SyncChain[]>;
}

/** `service` is built from `deps` unless given (tests inspect the one they hand in). */
export function createFirewall(deps: FirewallDeps, service = new FirewallService(deps)): Firewall {
  const collectFirewallChains = async (): Promise<SyncChain[]> => {
    try {
      const state = await service.read();
      if (typeof state === "string") {
        deps.log.debug("firewall sync skipped", { reason: state });
        return [];
      }
      return syncChains(state);
    } catch (err) {
      deps.log.warn("firewall sync could not read the rules", { error: err });
      return [];
    }
  };
  return {
    name: "firewall",
    commands: [firewallCommand(service), rollbackCommand(service), ...groupCommands(service)].map((spec) => ({
      ...spec,
      timeoutMs: FIREWALL_TIMEOUT_MS,
    })),
    collectFirewallChains,
  };
}
