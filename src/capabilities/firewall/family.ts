// The firewall family's body (commands/lazy.ts): loaded with the service, the rule parsers and both backends on
// the first firewall command, never by an agent that is not sent one.
import type { FamilyBodies } from "../../commands/lazy.ts";
import { firewallCommand, rollbackCommand } from "./commands.ts";
import { groupCommands } from "./group-commands.ts";
import { type FirewallDeps, FirewallService } from "./service.ts";

/** The bodies keyed by the names index.ts declares; `service` is built from `deps` unless given. */
export function firewallBodies(deps: FirewallDeps, service: FirewallService = new FirewallService(deps)): FamilyBodies {
  return { firewall: firewallCommand(service), "firewall-rollback": rollbackCommand(service), ...groupCommands(service) };
}
