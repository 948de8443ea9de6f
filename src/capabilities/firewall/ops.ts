// Pure changes to the agent's firewall state: add, update, delete, flush, remove and reorder groups. Each
// returns a new state (or which request failed and why); nothing here touches the kernel.
import { normalizeState, type FirewallState, type Group, type Hook } from "./model.ts";
import type { RuleRequest } from "./schema.ts";

export type OpResult = { ok: true; state: FirewallState } | { ok: false; index: number; error: string };

const clone = (state: FirewallState): Group[] => state.map((g) => ({ name: g.name, rules: g.rules.map((r) => ({ ...r })) }));

function groupOf(state: Group[], name: string): Group {
  let g = state.find((x) => x.name === name);
  if (!g) {
    g = { name, rules: [] };
    state.push(g);
  }
  return g;
}

/** Applies rule requests in order; an add with an existing rule_id replaces that rule where it stands. */
export function applyRequests(state: FirewallState, requests: RuleRequest[]): OpResult {
  const next = clone(state);
  for (const [index, req] of requests.entries()) {
    const existing = next.find((g) => g.name === req.group);
    if (req.operation === "delete") {
      const at = existing?.rules.findIndex((r) => r.ruleId === req.rule.ruleId) ?? -1;
      if (at < 0) return { ok: false, index, error: `Rule with ID ${req.rule.ruleId} not found` };
      existing!.rules.splice(at, 1);
      continue;
    }
    const g = groupOf(next, req.group);
    const oldId = req.operation === "update" ? (req.oldRuleId ?? req.rule.ruleId) : req.rule.ruleId;
    const at = g.rules.findIndex((r) => r.ruleId === oldId);
    if (at >= 0) {
      g.rules.splice(at, 1, req.rule);
      // An update that renames a rule must not leave a second rule with the new id behind.
      const dup = g.rules.findIndex((r, i) => i !== at && r.ruleId === req.rule.ruleId);
      if (dup >= 0) g.rules.splice(dup, 1);
    } else if (req.insertFirst) g.rules.unshift(req.rule);
    else g.rules.push(req.rule);
  }
  return { ok: true, state: normalizeState(next) };
}

export function flushGroup(state: FirewallState, name: string): FirewallState {
  return state.map((g) => (g.name === name ? { name, rules: [] } : g));
}

/** Removes a group, or only its rules on one hook. */
export function deleteGroup(state: FirewallState, name: string, hook?: Hook): FirewallState {
  if (!hook) return state.filter((g) => g.name !== name);
  return state.map((g) => (g.name === name ? { name, rules: g.rules.filter((r) => r.chain !== hook) } : g));
}

/** Puts the named groups first, in the given order; unnamed ones keep their order after them. */
export function reorderGroups(state: FirewallState, names: string[]): { state: FirewallState; reordered: number } {
  const named = names.map((n) => state.find((g) => g.name === n)).filter((g): g is Group => !!g);
  const unique = [...new Set(named)];
  return { state: [...unique, ...state.filter((g) => !unique.includes(g))], reordered: unique.length };
}

/** Makes a group hold exactly these rules (restore, reorder-rules, apply_rules). */
export function replaceGroup(state: FirewallState, name: string, requests: RuleRequest[]): FirewallState {
  const next = clone(state);
  groupOf(next, name).rules = requests.map((r) => r.rule);
  return normalizeState(next);
}
