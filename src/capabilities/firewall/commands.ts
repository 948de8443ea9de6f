// The `firewall` and `firewall-rollback` commands: field checks first (a rejected command runs nothing),
// then one serialised, snapshotted, all-or-nothing change through the service. Result strings follow
// spec/firewall.md §2; the data never reaches a tool except as validated, canonical rule text.
import { type CommandBody, type CommandContext, type CommandResult, fail, ok } from "../../commands/contract.ts";
import { anchorChain } from "./iptables.ts";
import { applyRequests, deleteGroup, flushGroup, replaceGroup } from "./ops.ts";
import { parseRuleList } from "./requests.ts";
import { check, CommandFields, formatErrors, type CommandFieldValues } from "./schema.ts";
import type { FirewallService, MutationOutcome } from "./service.ts";

/** A reply whose text is a JSON body (batch results and the per-action commands). */
export const json = (exitCode: number, body: Record<string, unknown>): CommandResult => ({ exitCode, result: JSON.stringify(body) });
const OPERATIONS = ["batch", "flush", "delete", "add", "update"];

export function readFields(ctx: CommandContext): { ok: true; f: CommandFieldValues } | { ok: false; message: string } {
  const r = check(CommandFields, ctx.data, "");
  return r.ok ? { ok: true, f: r.value } : { ok: false, message: formatErrors(r.errors) };
}

/** Index of the request that a kernel error points at, when the tool named a line. */
function failedIndex(outcome: MutationOutcome<unknown>, ids: string[]): number {
  if (outcome.kind !== "failed" || !outcome.rule) return -1;
  return ids.indexOf(outcome.rule.ruleId);
}

/** batch (and firewall-batch-apply): every rule validated, then one transaction; all or nothing. */
export async function runBatch(
  svc: FirewallService,
  f: CommandFieldValues,
  group: string | undefined,
  objectFailures: boolean,
): Promise<CommandResult> {
  const list = f.rules ?? [];
  const failed = (items: { i: number; error: string }[]) =>
    objectFailures ? items.map((x) => ({ rule: `rule[${x.i}]`, error: x.error })) : items.map((x) => `rule[${x.i}]: ${x.error}`);
  if (list.length === 0) {
    return json(0, {
      success: true,
      applied_rules: 0,
      failed_rules: [],
      rolled_back: false,
      rollback_reason: null,
      message: "No rules to apply",
    });
  }
  const parsed = parseRuleList(list, group);
  if (!parsed.ok) {
    const items = parsed.all.map((m) => ({ i: Number(/^rule\[(\d+)\]/.exec(m)![1]), error: m.replace(/^rule\[\d+\]: /, "") }));
    return json(1, {
      success: false,
      error: "Validation failed",
      applied_rules: 0,
      failed_rules: failed(items),
      rolled_back: false,
      rollback_reason: null,
      message: `Validation failed; nothing was applied. ${parsed.message}`,
    });
  }
  const outcome = await svc.mutate("batch", (state) => {
    const r = applyRequests(state, parsed.requests);
    return r.ok ? { ok: true, state: r.state, info: -1 } : { ok: false, error: r.error, info: r.index };
  });
  if (outcome.kind === "unavailable") return fail(outcome.message);
  if (outcome.kind === "applied") {
    const n = list.length;
    return json(0, {
      success: true,
      applied_rules: n,
      failed_rules: [],
      rolled_back: false,
      rollback_reason: null,
      message: `Successfully applied ${n} rules`,
    });
  }
  const index =
    outcome.kind === "rejected"
      ? outcome.info
      : failedIndex(
          outcome,
          parsed.requests.map((r) => r.rule.ruleId),
        );
  // When the tool's error names no rule of this batch, say so instead of blaming one.
  const where = index >= 0 ? `rule[${index}]` : "batch";
  const items = [{ i: index, error: outcome.error }];
  return json(1, {
    success: false,
    error: "Failed to apply rules",
    applied_rules: 0,
    failed_rules: index >= 0 ? failed(items) : objectFailures ? [{ rule: where, error: outcome.error }] : [`${where}: ${outcome.error}`],
    ...(outcome.kind === "failed" && outcome.partial
      ? {
          rolled_back: false,
          rollback_reason: "Rolling back failed",
          message: "The change failed and could not be fully undone; the agent kept a backup of the firewall before it",
        }
      : {
          rolled_back: true,
          rollback_reason: index >= 0 ? `Rule ${index} failed to apply` : "The transaction failed to apply",
          message: "No rule was applied; the firewall is unchanged",
        }),
  });
}

export async function flushResult(svc: FirewallService, group: string, prefix: string): Promise<CommandResult> {
  const outcome = await svc.mutate("flush", (state) => ({ ok: true, state: flushGroup(state, group), info: null }));
  if (outcome.kind === "unavailable") return fail(outcome.message);
  if (outcome.kind !== "applied") return fail(`${prefix}flush error: ${outcome.error}`);
  return ok(
    outcome.backend === "nftables" ? `Successfully flushed table ${group}` : `Successfully flushed chains for security group ${group}`,
  );
}

export async function deleteGroupResult(svc: FirewallService, group: string): Promise<CommandResult> {
  let existed = false;
  const outcome = await svc.mutate("delete-group", (state) => {
    existed = state.some((g) => g.name === group);
    return { ok: true, state: deleteGroup(state, group), info: null };
  });
  if (outcome.kind === "unavailable") return fail(outcome.message);
  if (outcome.kind !== "applied") return fail(`delete error: ${outcome.error}`);
  if (outcome.backend === "nftables") return ok(existed ? `Successfully deleted table ${group}` : `Table ${group} was already deleted`);
  return ok(`Successfully deleted chains for security group ${group}`);
}

async function addOrUpdate(svc: FirewallService, ctx: CommandContext, f: CommandFieldValues, op: "add" | "update"): Promise<CommandResult> {
  const upstream = (f.rules?.length ?? 0) > 0;
  if (op === "update" && (f.rules?.length ?? 0) > 1) return fail("firewall update: only one rule can be updated at a time");
  const list = upstream ? (op === "update" ? [f.rules![0]] : f.rules!) : [ctx.data];
  const parsed = parseRuleList(list, f.chain_name, op);
  if (!parsed.ok) {
    const why = upstream ? parsed.message : parsed.message.replace(/^rule\[0\]: /, "");
    return fail(`firewall ${op}: Validation failed. ${why}`);
  }
  if (op === "update" && f.old_rule_id) parsed.requests[0]!.oldRuleId ??= f.old_rule_id;
  const outcome = await svc.mutate(op, (state) => {
    const r = applyRequests(state, parsed.requests);
    return r.ok ? { ok: true, state: r.state, info: null } : { ok: false, error: r.error, info: null };
  });
  if (outcome.kind === "unavailable") return fail(outcome.message);
  const req = parsed.requests[0]!;
  if (outcome.kind !== "applied") {
    if (upstream && op === "add") return fail(`Added 0 of ${list.length} rules, last error: ${outcome.error}`);
    return fail(
      op === "update"
        ? `firewall update: ${outcome.error}${outcome.kind === "failed" && outcome.partial ? "" : " (nothing changed)"}`
        : `${outcome.kind === "failed" ? outcome.backend : "firewall"} error: ${outcome.error}`,
    );
  }
  if (op === "update") return ok(`Successfully updated rule with ID ${req.rule.ruleId}`);
  if (upstream) return ok(`Successfully added ${list.length} rules`);
  return ok(
    outcome.backend === "nftables"
      ? `Successfully executed rule for security group table ${req.group}.`
      : `Successfully executed rule for security group chain ${anchorChain(req.rule.chain)}.`,
  );
}

async function deleteRule(svc: FirewallService, f: CommandFieldValues): Promise<CommandResult> {
  const first = (f.rules?.[0] ?? {}) as Record<string, unknown>;
  const id = f.rule_id ?? (typeof first.rule_id === "string" ? first.rule_id : undefined);
  if (!id) return fail("firewall delete: rule_id is required for delete operation");
  const parsed = parseRuleList([{ rule_id: id, chain_name: f.chain_name }], f.chain_name, "delete");
  if (!parsed.ok) return fail(`firewall delete: Validation failed. ${parsed.message.replace(/^rule\[0\]: /, "")}`);
  const outcome = await svc.mutate("delete", (state) => {
    const r = applyRequests(state, parsed.requests);
    return r.ok ? { ok: true, state: r.state, info: null } : { ok: false, error: r.error, info: null };
  });
  if (outcome.kind === "unavailable") return fail(outcome.message);
  if (outcome.kind === "rejected") return fail(outcome.error);
  if (outcome.kind === "failed") return fail(`Failed to delete rule: ${outcome.error}`);
  return ok(`Successfully deleted rule with ID ${parsed.requests[0]!.rule.ruleId}`);
}

/** `firewall`: the batch and the single operations. */
export function firewallCommand(svc: FirewallService): CommandBody<unknown> {
  return {
    async run(_data, ctx) {
      const raw = ctx.data as Record<string, unknown>;
      if (raw.chain_name === undefined || raw.chain_name === null || raw.chain_name === "") {
        if (!(Array.isArray(raw.rules) && raw.rules.length > 0)) return fail("firewall: chain_name is required");
      }
      if (typeof raw.operation !== "string" || raw.operation === "") return fail("firewall: operation is required");
      if (!OPERATIONS.includes(raw.operation))
        return fail(`firewall: Unknown operation '${raw.operation}'. Supported: batch, flush, delete, add, update`);
      const fields = readFields(ctx);
      if (!fields.ok) return fail(`firewall ${raw.operation}: Validation failed. ${fields.message}`);
      const f = fields.f;
      switch (raw.operation) {
        case "batch":
          return runBatch(svc, f, f.chain_name, false);
        case "flush":
          if (!f.chain_name) return fail("firewall flush: chain_name is required");
          return flushResult(svc, f.chain_name, "firewall ");
        case "delete":
          return deleteRule(svc, f);
        default:
          return addOrUpdate(svc, ctx, f, raw.operation as "add" | "update");
      }
    },
  };
}

/** `firewall-rollback`: the last change undone, or a security group flushed, restored or deleted. */
export function rollbackCommand(svc: FirewallService): CommandBody<unknown> {
  return {
    async run(_data, ctx) {
      const fields = readFields(ctx);
      if (!fields.ok) return fail(`firewall-rollback: Validation failed. ${fields.message}`);
      const f = fields.f;
      const action = f.operation ?? f.action ?? (f.method && !f.method.startsWith("-") ? f.method : undefined);
      const snapshot = async () => {
        const r = await svc.rollback();
        return r.ok ? ok("Firewall rules rolled back successfully") : fail(r.message);
      };
      if (!action) return snapshot();
      if (!["flush", "restore", "delete"].includes(action))
        return fail(`firewall-rollback: Unknown action '${action}', use 'flush', 'restore', or 'delete'`);
      if (action === "restore" && !f.rules?.length) return snapshot();
      if (!f.chain_name) return fail("firewall-rollback: chain_name is required");
      if (action === "flush") return flushResult(svc, f.chain_name, "firewall-rollback: ");
      if (action === "delete") return deleteGroupResult(svc, f.chain_name);
      const parsed = parseRuleList(f.rules!, f.chain_name, "add");
      const total = f.rules!.length;
      if (!parsed.ok)
        return fail(
          `firewall-rollback: Restored 0/${total} rules. Failed rules: ${parsed.all.map((m) => m.replace(/^rule\[(\d+)\]/, "Rule $1")).join("; ")}`,
        );
      const outcome = await svc.mutate("restore", (state) => ({
        ok: true,
        state: replaceGroup(state, f.chain_name!, parsed.requests),
        info: null,
      }));
      if (outcome.kind === "unavailable") return fail(outcome.message);
      if (outcome.kind !== "applied") return fail(`firewall-rollback: Restored 0/${total} rules. Failed rules: ${outcome.error}`);
      return ok(`firewall-rollback: Successfully restored ${total} rules`);
    },
  };
}
