// Turns the console's rule lists into validated rule requests, all or none, with the failing rule and
// field named. Shared by every firewall command; pure.
import { formatErrors, ruleRequest, type RuleRequest } from "./schema.ts";
import type { FirewallState } from "./model.ts";

export type Parsed = { ok: true; requests: RuleRequest[] } | { ok: false; index: number; message: string; all: string[] };

/** Validates every rule; on failure reports each bad rule as `rule[i]: field: message`. */
export function parseRuleList(list: unknown[], fallbackGroup: string | undefined, forceOperation?: "add" | "update" | "delete"): Parsed {
  const requests: RuleRequest[] = [];
  const all: string[] = [];
  let first = -1;
  for (const [i, item] of list.entries()) {
    const r = ruleRequest(item, "", fallbackGroup, () => crypto.randomUUID(), forceOperation);
    if (r.ok) requests.push(r.value);
    else {
      if (first < 0) first = i;
      all.push(`rule[${i}]: ${formatErrors(r.errors)}`);
    }
  }
  if (first >= 0) return { ok: false, index: first, message: all[0]!, all };
  return { ok: true, requests };
}

/** reorder-rules may name rules by id only: such an entry stands for the rule already in the group. */
export function expandIdOnly(list: unknown[], group: string, state: FirewallState): unknown[] {
  const existing = state.find((g) => g.name === group)?.rules ?? [];
  return list.map((item) => {
    if (typeof item !== "object" || item === null) return item;
    const o = item as Record<string, unknown>;
    if (o.protocol !== undefined || o.target !== undefined || typeof o.rule_id !== "string") return item;
    const r = existing.find((x) => x.ruleId === String(o.rule_id).toLowerCase());
    if (!r) return item;
    return {
      chain: r.chain,
      protocol: r.protocol,
      target: r.target,
      rule_id: r.ruleId,
      rule_type: r.ruleType,
      ...(r.portStart !== undefined ? { port_start: r.portStart } : {}),
      ...(r.portEnd !== undefined ? { port_end: r.portEnd } : {}),
      ...(r.dports ? { dports: r.dports } : {}),
      ...(r.icmpType !== undefined ? { icmp_type: r.icmpType } : {}),
      ...(r.source ? { source: r.source } : {}),
      ...(r.destination ? { destination: r.destination } : {}),
    };
  });
}
