// The per-action firewall commands (FIREWALL_COMMANDS.md and upstream), most replying with a JSON body:
// firewall-batch-apply, firewall-rules, firewall-chain-delete, firewall-reorder-chains, firewall-reorder-rules
// and firewall-status. Same validation, queue, snapshots and single transactions as `firewall`.
import { fail, ok } from "../../commands/contract.ts";
import type { FamilyBodies } from "../../commands/lazy.ts";
import { applyRequests, deleteGroup, reorderGroups, replaceGroup } from "./ops.ts";
import { expandIdOnly, parseRuleList } from "./requests.ts";
import { json, readFields, runBatch } from "./commands.ts";
import type { FirewallService } from "./service.ts";

const message = (success: boolean, text: string) => json(success ? 0 : 1, { success, message: text });

/** firewall-rules actions and the rule operation each stands for. */
const RULE_ACTIONS = { add_rule: "add", update_rule: "update", delete_rule: "delete", apply_rules: "add" } as const;
type RuleAction = keyof typeof RULE_ACTIONS;
/** Own properties only: `"constructor" in RULE_ACTIONS` is true through the prototype. */
const isRuleAction = (action: string): action is RuleAction => Object.hasOwn(RULE_ACTIONS, action);

/** The per-action commands' bodies, keyed by their names (declared in index.ts). */
export function groupCommands(svc: FirewallService): FamilyBodies {
  return {
    "firewall-batch-apply": {
      async run(_data, ctx) {
        const r = readFields(ctx);
        if (!r.ok)
          return json(1, {
            success: false,
            error: `Validation failed. ${r.message}`,
            applied_rules: 0,
            failed_rules: [],
            rolled_back: false,
            rollback_reason: null,
          });
        return runBatch(svc, r.f, r.f.security_group_name ?? r.f.chain_name, true);
      },
    },
    "firewall-rules": {
      async run(_data, ctx) {
        const r = readFields(ctx);
        if (!r.ok) return message(false, `Validation failed. ${r.message}`);
        const f = r.f;
        const action = f.action ?? f.operation;
        if (!action || !isRuleAction(action))
          return message(false, `Unknown action '${action ?? ""}', use add_rule, update_rule, delete_rule or apply_rules`);
        if (!f.chain_name) return message(false, "chain_name: is required");
        const kind = RULE_ACTIONS[action];
        const list = action === "apply_rules" ? (f.rules ?? []) : [f.rule ?? f.rules?.[0] ?? ctx.data];
        const parsed = parseRuleList(list, f.chain_name, kind);
        if (!parsed.ok) return message(false, `Validation failed. ${parsed.message}`);
        if (kind === "update" && f.old_rule_id) parsed.requests[0]!.oldRuleId ??= f.old_rule_id;
        const outcome = await svc.mutate(action, (state) => {
          if (action === "apply_rules") return { ok: true, state: replaceGroup(state, f.chain_name!, parsed.requests), info: null };
          const a = applyRequests(state, parsed.requests);
          return a.ok ? { ok: true, state: a.state, info: null } : { ok: false, error: a.error, info: null };
        });
        if (outcome.kind === "unavailable") return message(false, outcome.message);
        if (outcome.kind !== "applied") return message(false, outcome.error);
        const done: Record<RuleAction, string> = {
          add_rule: "Rule added successfully",
          update_rule: "Rule updated successfully",
          delete_rule: "Rule deleted successfully",
          apply_rules: `Applied ${list.length} rules`,
        };
        return message(true, done[action]);
      },
    },
    "firewall-chain-delete": {
      async run(_data, ctx) {
        const r = readFields(ctx);
        if (!r.ok) return message(false, `Validation failed. ${r.message}`);
        const { chain_name: group, chain } = r.f;
        if (!group) return message(false, "chain_name: is required");
        const outcome = await svc.mutate("chain-delete", (state) => ({ ok: true, state: deleteGroup(state, group, chain), info: null }));
        if (outcome.kind === "unavailable") return message(false, outcome.message);
        if (outcome.kind !== "applied") return message(false, `chain delete error: ${outcome.error}`);
        return message(
          true,
          chain
            ? `Successfully deleted chain ${group}.${chain.toLowerCase()}`
            : `Successfully deleted 3 chains for security group ${group}`,
        );
      },
    },
    "firewall-reorder-chains": {
      async run(_data, ctx) {
        const r = readFields(ctx);
        if (!r.ok) return json(1, { success: false, message: `Validation failed. ${r.message}` });
        const names = r.f.chain_names ?? [];
        if (names.length === 0) return json(1, { success: false, message: "chain_names: is required" });
        const outcome = await svc.mutate("reorder-chains", (state) => {
          const o = reorderGroups(state, names);
          return { ok: true, state: o.state, info: o.reordered };
        });
        if (outcome.kind === "unavailable") return json(1, { success: false, message: outcome.message });
        if (outcome.kind !== "applied") return json(1, { success: false, message: outcome.error });
        const n = outcome.info;
        return json(0, { success: true, reordered_count: n, deleted_rules: 0, message: `Successfully reordered ${n} chains` });
      },
    },
    "firewall-reorder-rules": {
      async run(_data, ctx) {
        const r = readFields(ctx);
        if (!r.ok) return json(1, { success: false, message: `Validation failed. ${r.message}` });
        const group = r.f.chain_name;
        if (!group) return json(1, { success: false, message: "chain_name: is required" });
        const list = r.f.rules ?? [];
        let error = "";
        const outcome = await svc.mutate("reorder-rules", (state) => {
          const parsed = parseRuleList(expandIdOnly(list, group, state), group, "add");
          if (!parsed.ok) {
            error = `Validation failed. ${parsed.message}`;
            return { ok: false, error, info: null };
          }
          return { ok: true, state: replaceGroup(state, group, parsed.requests), info: null };
        });
        if (outcome.kind === "unavailable") return json(1, { success: false, message: outcome.message });
        if (outcome.kind !== "applied") return json(1, { success: false, message: error || outcome.error });
        return json(0, {
          success: true,
          reordered_count: list.length,
          message: `Successfully reordered ${list.length} rules in chain '${group}'`,
        });
      },
    },
    "firewall-status": {
      async run() {
        const d = await svc.detect();
        const state = await svc.read().catch((err: unknown) => String(err));
        const rules = typeof state === "string" ? null : state.reduce((n, g) => n + g.rules.length, 0);
        const body = { ...d, groups: typeof state === "string" ? null : state.map((g) => g.name), rules, backups: svc.backups.count() };
        return d.kind === "nftables" || d.kind === "iptables" ? ok(JSON.stringify(body)) : fail(JSON.stringify(body));
      },
    },
  };
}
