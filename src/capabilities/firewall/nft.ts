// nftables text for the agent's own table (`table inet alpacon`) and the parser of its `nft -j` listing.
// The script is generated only from validated, canonical values and always replaces the whole table in
// one transaction; it never names or touches any other table.
import {
  icmpTypeByName,
  HOOKS,
  parseRuleComment,
  ruleComment,
  type FirewallState,
  type Group,
  type Hook,
  type Rule,
  type Target,
} from "./model.ts";
import { parseCidr } from "./addr.ts";

export const NFT_TABLE = "alpacon";
const BASE_CHAIN: Record<Hook, string> = { INPUT: "input", OUTPUT: "output", FORWARD: "forward" };

export interface RuleRef {
  group: string;
  ruleId: string;
}

export interface Script {
  text: string;
  /** 1-based script line → the rule written on it, to say which rule a tool error is about. */
  lines: Map<number, RuleRef>;
}

export function groupChain(group: string, hook: Hook): string {
  return `${group}_${BASE_CHAIN[hook]}`;
}

const VERDICT: Record<Target, string> = { ACCEPT: "accept", DROP: "drop", REJECT: "reject", LOG: "log", RETURN: "return" };

/** The match and verdict part of one rule, in nft syntax. */
export function nftRuleText(rule: Rule): string {
  const parts: string[] = [];
  const fam = (cidr: string) => (cidr.includes(":") ? "ip6" : "ip");
  if (rule.source) parts.push(`${fam(rule.source)} saddr ${rule.source}`);
  if (rule.destination) parts.push(`${fam(rule.destination)} daddr ${rule.destination}`);
  if (rule.protocol === "icmp") {
    parts.push(rule.icmpType !== undefined ? `icmp type ${rule.icmpType}` : "meta l4proto icmp");
  } else if (rule.protocol === "tcp" || rule.protocol === "udp") {
    if (rule.dports?.length) parts.push(`${rule.protocol} dport { ${rule.dports.join(", ")} }`);
    else if (rule.portStart !== undefined && rule.portEnd !== undefined && rule.portEnd !== rule.portStart) {
      parts.push(`${rule.protocol} dport ${rule.portStart}-${rule.portEnd}`);
    } else if (rule.portStart !== undefined) parts.push(`${rule.protocol} dport ${rule.portStart}`);
    else parts.push(`meta l4proto ${rule.protocol}`);
  }
  // An address-less rule in the inet table covers both families; ICMP rules are IPv4 only.
  if (rule.protocol === "icmp" && !rule.source && !rule.destination) parts.unshift("meta nfproto ipv4");
  // TCP gets a reset: an ICMPv6 port-unreachable is only a soft error to TCP, so it would look like a drop.
  parts.push(rule.target === "REJECT" && rule.protocol === "tcp" ? "reject with tcp reset" : VERDICT[rule.target]);
  parts.push(`comment "${ruleComment(rule)}"`);
  return parts.join(" ");
}

/**
 * One `nft -f -` transaction that makes the table exactly `state`: declare (so delete cannot fail), delete,
 * then define it again. An empty state just removes the table.
 */
export function nftScript(state: FirewallState): Script {
  const out: string[] = [`table inet ${NFT_TABLE}`, `delete table inet ${NFT_TABLE}`];
  const lines = new Map<number, RuleRef>();
  if (state.length > 0) {
    out.push(`table inet ${NFT_TABLE} {`);
    for (const group of state) {
      for (const hook of HOOKS) {
        out.push(`\tchain ${groupChain(group.name, hook)} {`);
        for (const rule of group.rules.filter((r) => r.chain === hook)) {
          out.push(`\t\t${nftRuleText(rule)}`);
          lines.set(out.length, { group: group.name, ruleId: rule.ruleId });
        }
        out.push("\t}");
      }
    }
    for (const hook of HOOKS) {
      out.push(`\tchain ${BASE_CHAIN[hook]} {`, `\t\ttype filter hook ${BASE_CHAIN[hook]} priority filter; policy accept;`);
      for (const group of state) out.push(`\t\tjump ${groupChain(group.name, hook)}`);
      out.push("\t}");
    }
    out.push("}");
  }
  return { text: `${out.join("\n")}\n`, lines };
}

/** The line an nft error points at (`/dev/stdin:5:3-9: Error: ...`). */
export function nftErrorLine(output: string): number | undefined {
  const m = /^[^:\n]*:(\d+):\d+(?:-\d+)?: Error/m.exec(output);
  return m ? Number(m[1]) : undefined;
}

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === "object" && v !== null && !Array.isArray(v);

function cidrOf(right: unknown): string | undefined {
  if (typeof right === "string") return parseCidr(right)?.text;
  if (isObj(right) && isObj(right.prefix)) {
    const p = right.prefix;
    if (typeof p.addr === "string" && typeof p.len === "number") return parseCidr(`${p.addr}/${p.len}`)?.text;
  }
  return undefined;
}

function icmpNumber(right: unknown): number | undefined {
  if (typeof right === "number" && Number.isInteger(right)) return right;
  if (typeof right === "string") return /^\d+$/.test(right) ? Number(right) : icmpTypeByName(right);
  return undefined;
}

/** Reads one rule's expressions back into a Rule; undefined when it holds anything the agent never writes. */
export function parseNftRule(expr: unknown[], comment: string | undefined, chain: Hook): Rule | undefined {
  const tag = parseRuleComment(comment ?? "");
  if (!tag.ruleId) return undefined;
  const rule: Rule = { chain, protocol: "all", target: "ACCEPT", ruleId: tag.ruleId, ruleType: tag.ruleType ?? "user" };
  let verdict: Target | undefined;
  for (const e of expr) {
    if (!isObj(e)) return undefined;
    if ("counter" in e) continue;
    for (const [name, target] of Object.entries(VERDICT)) if (target in e) verdict = name as Target;
    if (verdict && !("match" in e)) continue;
    if (!isObj(e.match) || e.match.op !== "==") return undefined;
    const { left, right } = e.match;
    if (isObj(left) && isObj(left.meta)) {
      if (left.meta.key === "nfproto") continue;
      if (left.meta.key !== "l4proto" || typeof right !== "string") return undefined;
      if (right === "tcp" || right === "udp" || right === "icmp") rule.protocol = right;
      else return undefined;
      continue;
    }
    if (!isObj(left) || !isObj(left.payload)) return undefined;
    const { protocol, field } = left.payload;
    if ((protocol === "ip" || protocol === "ip6") && (field === "saddr" || field === "daddr")) {
      const cidr = cidrOf(right);
      if (!cidr) return undefined;
      if (field === "saddr") rule.source = cidr;
      else rule.destination = cidr;
    } else if ((protocol === "tcp" || protocol === "udp") && field === "dport") {
      rule.protocol = protocol;
      if (typeof right === "number") rule.portStart = right;
      else if (isObj(right) && Array.isArray(right.range)) [rule.portStart, rule.portEnd] = right.range as number[];
      else if (isObj(right) && Array.isArray(right.set))
        rule.dports = (right.set as unknown[]).filter((p): p is number => typeof p === "number");
      else return undefined;
    } else if (protocol === "icmp" && field === "type") {
      rule.protocol = "icmp";
      rule.icmpType = icmpNumber(right);
      if (rule.icmpType === undefined) return undefined;
    } else return undefined;
  }
  if (!verdict) return undefined;
  rule.target = verdict;
  return rule;
}

/** Parses `nft -j list table inet alpacon` into groups; jumps of the input base chain give the group order. */
export function parseNftTable(json: string, warn: (msg: string) => void = () => {}): FirewallState {
  const doc = JSON.parse(json) as { nftables?: unknown[] };
  const groups = new Map<string, Group>();
  const jumpOrder: string[] = [];
  const chainHook = new Map<string, { group: string; hook: Hook }>();
  for (const item of doc.nftables ?? []) {
    if (!isObj(item) || !isObj(item.chain)) continue;
    const name = String(item.chain.name);
    for (const hook of HOOKS) {
      const suffix = `_${BASE_CHAIN[hook]}`;
      if (name.endsWith(suffix)) {
        const group = name.slice(0, -suffix.length);
        chainHook.set(name, { group, hook });
        if (!groups.has(group)) groups.set(group, { name: group, rules: [] });
      }
    }
  }
  for (const item of doc.nftables ?? []) {
    if (!isObj(item) || !isObj(item.rule)) continue;
    const r = item.rule;
    const where = chainHook.get(String(r.chain));
    const expr = Array.isArray(r.expr) ? r.expr : [];
    if (!where) {
      const jump = expr.find((e) => isObj(e) && isObj(e.jump)) as Json | undefined;
      const target = jump && isObj(jump.jump) ? String(jump.jump.target) : undefined;
      const g = target ? chainHook.get(target)?.group : undefined;
      if (g && !jumpOrder.includes(g)) jumpOrder.push(g);
      continue;
    }
    const rule = parseNftRule(expr, typeof r.comment === "string" ? r.comment : undefined, where.hook);
    if (rule) groups.get(where.group)!.rules.push(rule);
    else warn(`ignoring a rule the agent did not write in chain ${String(r.chain)}`);
  }
  const ordered = [...jumpOrder, ...[...groups.keys()].filter((g) => !jumpOrder.includes(g))];
  return ordered.filter((g) => groups.has(g)).map((g) => groups.get(g)!);
}
