// iptables-restore text for the agent's own chains (ALPACON-INPUT/-OUTPUT/-FORWARD, each reached by one jump
// from its built-in chain) and the parser of `iptables-save -t filter`. Rules are written only from
// validated, canonical values; the text never declares, flushes or deletes a chain the agent does not own.
import {
  HOOKS,
  icmpTypeByName,
  parseRuleComment,
  ruleComment,
  ruleFamilies,
  type FirewallState,
  type Group,
  type Hook,
  type Rule,
  type Target,
} from "./model.ts";
import { parseCidr } from "./addr.ts";
import type { RuleRef, Script } from "./nft.ts";

export const anchorChain = (hook: Hook) => `ALPACON-${hook}`;

/** What iptables-save shows of the agent's objects (needed to keep exactly one jump per hook). */
export interface IptablesPresence {
  chains: Set<Hook>;
  jumps: Record<Hook, number>;
}

export function iptablesRuleArgs(rule: Rule, group: string, family: 4 | 6): string[] {
  const a: string[] = [];
  if (rule.source) a.push("-s", rule.source);
  if (rule.destination) a.push("-d", rule.destination);
  if (rule.protocol !== "all") a.push("-p", rule.protocol);
  if (rule.protocol === "icmp" && rule.icmpType !== undefined && family === 4) a.push("-m", "icmp", "--icmp-type", String(rule.icmpType));
  if (rule.protocol === "tcp" || rule.protocol === "udp") {
    if (rule.dports?.length) a.push("-m", "multiport", "--dports", rule.dports.join(","));
    else if (rule.portStart !== undefined) {
      const range =
        rule.portEnd !== undefined && rule.portEnd !== rule.portStart ? `${rule.portStart}:${rule.portEnd}` : String(rule.portStart);
      a.push("-m", rule.protocol, "--dport", range);
    }
  }
  a.push("-m", "comment", "--comment", `"${ruleComment(rule, group)}"`, "-j", rule.target);
  // As in nft: TCP gets a reset, since ICMPv6 port-unreachable is only a soft error to TCP.
  if (rule.target === "REJECT" && rule.protocol === "tcp") a.push("--reject-with", "tcp-reset");
  return a;
}

/** One `iptables-restore --noflush` transaction for one family; undefined when there is nothing to do. */
export function iptablesScript(state: FirewallState, family: 4 | 6, present: IptablesPresence): Script | undefined {
  const empty = state.every((g) => g.rules.every((r) => !ruleFamilies(r).includes(family)));
  if (empty && present.chains.size === 0 && HOOKS.every((h) => present.jumps[h] === 0)) return undefined;
  const out = ["*filter"];
  const lines = new Map<number, RuleRef>();
  for (const hook of HOOKS) if (!empty || present.chains.has(hook)) out.push(`:${anchorChain(hook)} - [0:0]`);
  for (const hook of HOOKS) {
    const keep = empty ? 0 : 1;
    for (let i = present.jumps[hook]; i > keep; i--) out.push(`-D ${hook} -j ${anchorChain(hook)}`);
    if (keep === 1 && present.jumps[hook] === 0) out.push(`-I ${hook} 1 -j ${anchorChain(hook)}`);
  }
  if (empty) {
    for (const hook of HOOKS) if (present.chains.has(hook)) out.push(`-X ${anchorChain(hook)}`);
  } else {
    for (const hook of HOOKS) {
      for (const group of state) {
        for (const rule of group.rules) {
          if (rule.chain !== hook || !ruleFamilies(rule).includes(family)) continue;
          out.push(`-A ${anchorChain(hook)} ${iptablesRuleArgs(rule, group.name, family).join(" ")}`);
          lines.set(out.length, { group: group.name, ruleId: rule.ruleId });
        }
      }
    }
  }
  out.push("COMMIT");
  return { text: `${out.join("\n")}\n`, lines };
}

/** The line iptables-restore names in its error (`iptables-restore: line 5 failed`). */
export function iptablesErrorLine(output: string): number | undefined {
  // nf_tables flavour reports errors found at COMMIT against the COMMIT line, which names no rule.
  const m = /line:? (\d+)/.exec(output);
  return m ? Number(m[1]) : undefined;
}

/** Splits an iptables-save line into words; double quotes group words and `\"` is a quote. */
export function saveWords(line: string): string[] {
  const words: string[] = [];
  let cur = "";
  let quoted = false;
  let inWord = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (c === "\\" && quoted && i + 1 < line.length) {
      cur += line[++i];
    } else if (c === '"') {
      quoted = !quoted;
      inWord = true;
    } else if (c === " " && !quoted) {
      if (inWord) words.push(cur);
      cur = "";
      inWord = false;
    } else {
      cur += c;
      inWord = true;
    }
  }
  if (inWord) words.push(cur);
  return words;
}

const TARGETS = new Set<Target>(["ACCEPT", "DROP", "REJECT", "LOG", "RETURN"]);

/** One saved rule (words after `-A CHAIN`) back into a Rule and its group; undefined for foreign shapes. */
export function parseIptablesRule(words: string[], hook: Hook): { group: string; rule: Rule } | undefined {
  const rule: Rule = { chain: hook, protocol: "all", target: "ACCEPT", ruleId: "", ruleType: "user" };
  let group: string | undefined;
  let target: Target | undefined;
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    const next = () => words[++i] ?? "";
    switch (w) {
      case "-s":
      case "-d": {
        const cidr = parseCidr(next());
        if (!cidr) return undefined;
        if (w === "-s") rule.source = cidr.text;
        else rule.destination = cidr.text;
        break;
      }
      case "-p": {
        const p = next();
        if (p !== "tcp" && p !== "udp" && p !== "icmp") return undefined;
        rule.protocol = p;
        break;
      }
      case "-m": {
        const m = next();
        if (!["tcp", "udp", "icmp", "multiport", "comment"].includes(m)) return undefined;
        break;
      }
      case "--dport": {
        const [a, b] = next().split(":").map(Number);
        rule.portStart = a;
        if (b !== undefined && b !== a) rule.portEnd = b;
        break;
      }
      case "--dports":
        rule.dports = next().split(",").map(Number);
        break;
      case "--icmp-type": {
        const t = next().split("/")[0]!;
        const type = /^\d+$/.test(t) ? Number(t) : icmpTypeByName(t);
        if (type === undefined) return undefined;
        rule.icmpType = type;
        break;
      }
      case "--comment": {
        const tag = parseRuleComment(next());
        group = tag.group;
        if (tag.ruleId) rule.ruleId = tag.ruleId;
        if (tag.ruleType) rule.ruleType = tag.ruleType;
        break;
      }
      case "-j": {
        const t = next() as Target;
        if (!TARGETS.has(t)) return undefined;
        target = t;
        break;
      }
      case "--reject-with":
        next();
        break;
      default:
        return undefined;
    }
  }
  if (!group || !rule.ruleId || !target) return undefined;
  rule.target = target;
  return { group, rule };
}

export interface ParsedSave {
  state: FirewallState;
  present: IptablesPresence;
  ignored: number;
}

/** Parses `iptables-save -t filter` (or ip6tables-save): the agent's rules, chains and jumps. */
export function parseIptablesSave(text: string): ParsedSave {
  const present: IptablesPresence = { chains: new Set(), jumps: { INPUT: 0, OUTPUT: 0, FORWARD: 0 } };
  const perHook: Record<Hook, { group: string; rule: Rule }[]> = { INPUT: [], OUTPUT: [], FORWARD: [] };
  let ignored = 0;
  let inFilter = false;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line.startsWith("*")) inFilter = line === "*filter";
    if (!inFilter) continue;
    for (const hook of HOOKS) {
      if (line.startsWith(`:${anchorChain(hook)} `)) present.chains.add(hook);
      if (line === `-A ${hook} -j ${anchorChain(hook)}`) present.jumps[hook]++;
      const prefix = `-A ${anchorChain(hook)} `;
      if (!line.startsWith(prefix)) continue;
      const parsed = parseIptablesRule(saveWords(line.slice(prefix.length)), hook);
      if (parsed) perHook[hook].push(parsed);
      else ignored++;
    }
  }
  // iptables-save lists chains alphabetically; group order follows INPUT, then OUTPUT, then FORWARD.
  const groups = new Map<string, Group>();
  for (const hook of HOOKS) {
    for (const { group, rule } of perHook[hook]) {
      if (!groups.has(group)) groups.set(group, { name: group, rules: [] });
      groups.get(group)!.rules.push(rule);
    }
  }
  return { state: [...groups.values()], present, ignored };
}

/** Merges the IPv4 and IPv6 views: a rule without an address appears in both and is kept once, in order. */
export function mergeFamilies(v4: FirewallState, v6: FirewallState): FirewallState {
  const out: Group[] = v4.map((g) => ({ name: g.name, rules: [...g.rules] }));
  for (const g6 of v6) {
    let g = out.find((x) => x.name === g6.name);
    if (!g) {
      g = { name: g6.name, rules: [] };
      out.push(g);
    }
    let at = 0;
    for (const r of g6.rules) {
      const i = g.rules.findIndex((x) => x.ruleId === r.ruleId);
      if (i >= 0) at = i + 1;
      else g.rules.splice(at++, 0, r);
    }
  }
  return out;
}
