// The firewall capability's entry: builds the service once and hands out its command handlers and the
// sync collector. Holds no module-level state; everything it needs comes in through `deps`.
import type { Capability } from "../../commands/capability.ts";
import type { CommandHandler } from "../../commands/registry.ts";
import { rollbackCommand, firewallCommand } from "./commands.ts";
import { extraCommands } from "./commands-extra.ts";
import { FirewallService, type FirewallDeps } from "./service.ts";
import { syncBody, syncChains, type SyncChain } from "./sync.ts";

export type { FirewallDeps } from "./service.ts";
export type { SyncChain, SyncRule } from "./sync.ts";
export { FIREWALL_SYNC_PATH } from "./sync.ts";

export interface Firewall extends Capability {
  commands: CommandHandler[];
  /** The agent's own rules for `/api/firewall/agent/sync/` ([] when no backend is usable). */
  collectFirewallChains(): Promise<SyncChain[]>;
  syncBody(): Promise<{ chains: SyncChain[] }>;
  service: FirewallService;
}

export function createFirewall(deps: FirewallDeps): Firewall {
  const service = new FirewallService(deps);
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
    commands: [firewallCommand(service), rollbackCommand(service), ...extraCommands(service)],
    collectFirewallChains,
    syncBody: async () => syncBody(await collectFirewallChains()),
    service,
  };
}

/** The command handlers only (the catalog's entry point). */
export function firewallCommands(deps: FirewallDeps): CommandHandler[] {
  return createFirewall(deps).commands;
}
