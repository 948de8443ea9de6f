// The firewall part of the console sync: the agent's own rules, read back from the kernel, in the
// `/api/firewall/agent/sync/` body shape (spec/firewall.md §6). Reads only; never changes a rule.
import type { FirewallState } from "./model.ts";

export interface SyncRule {
  chain: string;
  protocol: string;
  port_start?: number;
  port_end?: number;
  source_cidr: string;
  destination_cidr?: string;
  target: string;
  priority: number;
  dports?: string;
  icmp_type?: number;
  rule_id: string;
  rule_type: string;
}

export interface SyncChain {
  name: string;
  rules: SyncRule[];
}

export function syncChains(state: FirewallState): SyncChain[] {
  return state.map((g) => ({
    name: g.name,
    rules: g.rules.map((r) => {
      const out: SyncRule = {
        chain: r.chain,
        protocol: r.protocol,
        source_cidr: r.source ?? "0.0.0.0/0",
        target: r.target,
        priority: 100,
        rule_id: r.ruleId,
        rule_type: r.ruleType,
      };
      if (r.portStart !== undefined) {
        out.port_start = r.portStart;
        out.port_end = r.portEnd ?? r.portStart;
      }
      if (r.destination) out.destination_cidr = r.destination;
      if (r.dports?.length) out.dports = r.dports.join(",");
      if (r.icmpType !== undefined) out.icmp_type = r.icmpType;
      return out;
    }),
  }));
}
