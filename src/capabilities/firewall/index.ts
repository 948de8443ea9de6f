// The firewall capability's entry: the commands' names, summaries and timeout, with their code loaded on the
// first firewall command (commands/lazy.ts), and the sync collector the inventory helper asks for. Holds no
// module-level state; everything it needs comes in through `deps`.
import type { Capability } from "../../commands/capability.ts";
import type { AnyCommandSpec } from "../../commands/contract.ts";
import { lazyFamily, type LazySpec, loadOnce } from "../../commands/lazy.ts";
import type { FirewallDeps, FirewallService } from "./service.ts";
import type { SyncChain } from "./sync.ts";

export type { FirewallDeps } from "./service.ts";
export type { SyncChain } from "./sync.ts";

/** Upstream's firewall handler timeout (upstream-2026 §2.4), for every firewall command. */
const FIREWALL_TIMEOUT_MS = 2 * 60_000;

export const FIREWALL_SPECS: readonly LazySpec[] = [
  { name: "firewall", summary: "manage the agent's firewall rules (batch, flush, delete, add, update)" },
  { name: "firewall-rollback", summary: "undo the last firewall change, or flush, restore or delete a security group" },
  { name: "firewall-batch-apply", summary: "add rules to a security group in one all-or-nothing transaction" },
  { name: "firewall-rules", summary: "add, update or delete one rule, or replace a security group's rules (apply_rules)" },
  { name: "firewall-chain-delete", summary: "remove a security group, or its rules on one chain (idempotent)" },
  { name: "firewall-reorder-chains", summary: "set the order in which security groups are evaluated" },
  { name: "firewall-reorder-rules", summary: "set the order of a security group's rules (one transaction)" },
  { name: "firewall-status", summary: "which firewall backend the agent uses and how many rules it owns" },
].map((spec) => ({ ...spec, timeoutMs: FIREWALL_TIMEOUT_MS }));

export interface Firewall extends Capability {
  commands: AnyCommandSpec[];
  /** The agent's own rules for `/api/firewall/agent/sync/` ([] when no backend is usable). */
  collectFirewallChains(): Promise<SyncChain[]>;
}

/** `service` is built from `deps` when first needed unless given (tests inspect the one they hand in). */
export function createFirewall(deps: FirewallDeps, service?: FirewallService): Firewall {
  const theService = loadOnce(async () => service ?? new (await import("./service.ts")).FirewallService(deps));
  const collectFirewallChains = async (): Promise<SyncChain[]> => {
    try {
      const svc = await theService();
      const state = await svc.read();
      if (typeof state === "string") {
        deps.log.debug("firewall sync skipped", { reason: state });
        return [];
      }
      return (await import("./sync.ts")).syncChains(state);
    } catch (err) {
      deps.log.warn("firewall sync could not read the rules", { error: err });
      return [];
    }
  };
  return {
    name: "firewall",
    commands: lazyFamily(FIREWALL_SPECS, async () => (await import("./family.ts")).firewallBodies(deps, await theService())),
    collectFirewallChains,
  };
}
