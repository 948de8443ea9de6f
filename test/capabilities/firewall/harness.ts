// Test harness for the firewall commands: builds the real handlers with an injected runProcess and data
// dir, and runs a command by name with a data object, as the dispatcher would.
import { silentLogger } from "../../../src/log/logger.ts";
import { ManualClock } from "../../../src/platform/clock.ts";
import { type CommandResult, invoke } from "../../../src/commands/contract.ts";
import type { RunProcess } from "../../../src/exec/types.ts";
import { createFirewall, type Firewall } from "../../../src/capabilities/firewall/index.ts";
import { FirewallService } from "../../../src/capabilities/firewall/service.ts";

export const ID = (n: number) => `${String(n).padStart(8, "0")}-0000-4000-8000-000000000000`;

export function makeFirewall(
  runProcess: RunProcess,
  dataDir: string,
  backend?: "nftables" | "iptables",
): Firewall & { service: FirewallService; call: (name: string, data: Record<string, unknown>) => Promise<CommandResult> } {
  const deps = {
    runProcess,
    dataDir,
    clock: new ManualClock(),
    log: silentLogger,
    hasSystemd: () => false,
    ...(backend ? { backend } : {}),
  };
  const service = new FirewallService(deps);
  const fw = createFirewall(deps, service);
  const call = async (name: string, data: Record<string, unknown>) => {
    const handler = fw.commands.find((c) => c.name === name);
    if (!handler) throw new Error(`no command ${name}`);
    return invoke(name, handler, {
      id: "t",
      args: [],
      line: name,
      data,
      user: null,
      group: null,
      env: null,
      signal: new AbortController().signal,
      log: silentLogger,
    });
  };
  return { ...fw, service, call };
}

/** A rule as the console sends it. */
export function wireRule(n: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { chain: "INPUT", protocol: "tcp", port_start: 8000 + n, target: "ACCEPT", rule_id: ID(n), ...extra };
}
