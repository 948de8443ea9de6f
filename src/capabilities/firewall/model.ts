// The firewall's rule model, shared by every backend: security groups in console order, each with its
// rules in order, plus the comment tag that marks a rule as the agent's. Pure data; never runs anything.

export const HOOKS = ["INPUT", "OUTPUT", "FORWARD"] as const;
export type Hook = (typeof HOOKS)[number];
export const PROTOCOLS = ["tcp", "udp", "icmp", "all"] as const;
export type Protocol = (typeof PROTOCOLS)[number];
export const TARGETS = ["ACCEPT", "DROP", "REJECT", "LOG", "RETURN"] as const;
export type Target = (typeof TARGETS)[number];
export type RuleType = "user" | "server";

/** One validated, canonical rule. Addresses are canonical CIDR text; undefined means "any". */
export interface Rule {
  chain: Hook;
  protocol: Protocol;
  /** A single port or, with portEnd, an inclusive range (tcp/udp only). */
  portStart?: number;
  portEnd?: number;
  /** A set of ports (tcp/udp only), exclusive with portStart. */
  dports?: number[];
  icmpType?: number;
  source?: string;
  destination?: string;
  target: Target;
  ruleId: string;
  ruleType: RuleType;
}

export interface Group {
  name: string;
  rules: Rule[];
}

/** Everything the agent owns in the kernel, in order. */
export type FirewallState = Group[];

/** The security-group name rule (a leading letter for nft; 20 characters leave room in iptables' 28). */
export const GROUP_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,19}$/;
export const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;

/** ICMP type names nft prints (and the console may send), by number. Read it only through icmpTypeByName. */
export const ICMP_TYPES: Readonly<Record<string, number>> = {
  "echo-reply": 0,
  "destination-unreachable": 3,
  "source-quench": 4,
  redirect: 5,
  "echo-request": 8,
  "router-advertisement": 9,
  "router-solicitation": 10,
  "time-exceeded": 11,
  "parameter-problem": 12,
  "timestamp-request": 13,
  "timestamp-reply": 14,
  "info-request": 15,
  "info-reply": 16,
  "address-mask-request": 17,
  "address-mask-reply": 18,
};

/**
 * The number of an ICMP type name, or undefined. An own-property check: `"constructor" in ICMP_TYPES` is
 * true through the prototype, so a console string must never index the table directly.
 */
export function icmpTypeByName(name: string): number | undefined {
  return Object.hasOwn(ICMP_TYPES, name) ? ICMP_TYPES[name] : undefined;
}

/** The IP family a rule applies to: 4, 6, or both when it names no address and is not ICMP (v4 only). */
export function ruleFamilies(rule: Rule): (4 | 6)[] {
  const addr = rule.source ?? rule.destination;
  if (addr) return [addr.includes(":") ? 6 : 4];
  return rule.protocol === "icmp" ? [4] : [4, 6];
}

/** The tag stored with every agent rule; iptables also carries the group, since its chains are shared. */
export function ruleComment(rule: Rule, group?: string): string {
  return `${group ? `sg:${group},` : ""}rule_id:${rule.ruleId},type:${rule.ruleType}`;
}

export interface ParsedComment {
  group?: string;
  ruleId?: string;
  ruleType?: RuleType;
}

/** Reads a tag written by ruleComment; exact fields, never substring matches. */
export function parseRuleComment(text: string): ParsedComment {
  const out: ParsedComment = {};
  for (const part of text.split(",").map((p) => p.trim())) {
    const colon = part.indexOf(":");
    if (colon < 0) continue;
    const key = part.slice(0, colon);
    const value = part.slice(colon + 1);
    if (key === "sg" && GROUP_NAME.test(value)) out.group = value;
    else if (key === "rule_id" && UUID.test(value)) out.ruleId = value.toLowerCase();
    else if (key === "type" && (value === "user" || value === "server")) out.ruleType = value;
  }
  return out;
}

/** A rule with its keys in one order and absent fields removed, so states compare as JSON. */
export function normalizeRule(r: Rule): Rule {
  const out: Rule = { chain: r.chain, protocol: r.protocol, target: r.target, ruleId: r.ruleId, ruleType: r.ruleType };
  if (r.portStart !== undefined) out.portStart = r.portStart;
  if (r.portEnd !== undefined && r.portEnd !== r.portStart) out.portEnd = r.portEnd;
  if (r.dports?.length) out.dports = [...r.dports];
  if (r.icmpType !== undefined) out.icmpType = r.icmpType;
  if (r.source) out.source = r.source;
  if (r.destination) out.destination = r.destination;
  return out;
}

export function normalizeState(state: FirewallState): FirewallState {
  // Rules are kept grouped by hook (INPUT, OUTPUT, FORWARD), which is also how every backend lists them.
  const rank = (r: Rule) => HOOKS.indexOf(r.chain);
  return state.map((g) => ({ name: g.name, rules: g.rules.map(normalizeRule).sort((a, b) => rank(a) - rank(b)) }));
}

export function sameState(a: FirewallState, b: FirewallState): boolean {
  return JSON.stringify(normalizeState(a)) === JSON.stringify(normalizeState(b));
}
