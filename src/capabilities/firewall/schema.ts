// Validation of the firewall commands' data with valibot: every field that can reach nft or iptables text
// is checked and canonicalised here, before anything runs, and every error names its field
// (`rules[2].dports[1]: ...`). Nothing that fails here ever reaches a backend.
import * as v from "valibot";
import { fieldPath } from "../../commands/contract.ts";
import { isAnyAddress, parseCidr } from "./addr.ts";
import { GROUP_NAME, HOOKS, icmpTypeByName, PROTOCOLS, TARGETS, UUID, type Hook, type Protocol, type Rule, type Target } from "./model.ts";

export interface FieldError {
  path: string;
  message: string;
}

export const formatErrors = (errors: FieldError[]) => errors.map((e) => (e.path ? `${e.path}: ${e.message}` : e.message)).join("; ");

const isAbsent = (x: unknown) => x === undefined || x === null || (typeof x === "string" && x.trim() === "");
/** A field that may be missing, null or "" (all "absent"), otherwise must pass `schema`. */
const maybe = <T>(schema: v.GenericSchema<unknown, T>) =>
  v.optional(
    v.pipe(
      v.unknown(),
      v.rawTransform(({ dataset, addIssue, NEVER }) => {
        if (isAbsent(dataset.value)) return undefined;
        const r = v.safeParse(schema, typeof dataset.value === "string" ? dataset.value.trim() : dataset.value);
        if (r.success) return r.output;
        addIssue({ message: r.issues[0].message });
        return NEVER;
      }),
    ),
  );

const upper = (values: readonly string[], what: string) =>
  v.pipe(
    v.string(`must be ${what}`),
    v.transform((s) => s.toUpperCase()),
    v.picklist(values, `must be ${what}`),
  );

export const groupName = v.pipe(
  v.string("must be a string"),
  v.regex(GROUP_NAME, "must start with a letter and hold at most 20 letters, digits, '_' or '-'"),
);
const hook = upper(HOOKS, "one of INPUT, OUTPUT, FORWARD") as v.GenericSchema<unknown, Hook>;
const target = upper(TARGETS, "one of ACCEPT, DROP, REJECT, LOG, RETURN") as v.GenericSchema<unknown, Target>;
const protocol = v.pipe(
  v.string("must be one of tcp, udp, icmp, all"),
  v.transform((s) => s.toLowerCase()),
  v.picklist(PROTOCOLS, "must be one of tcp, udp, icmp, all"),
) as v.GenericSchema<unknown, Protocol>;

const PORT_MSG = "must be a port number from 1 to 65535";
/** Numbers, or digit strings with spaces around them (older consoles send dports as strings). */
const portNumber = v.pipe(
  v.unknown(),
  v.check((x) => (typeof x === "number" && Number.isInteger(x)) || (typeof x === "string" && /^\s*\d{1,5}\s*$/.test(x)), PORT_MSG),
  v.transform((x) => Number(x)),
  v.number(),
  v.minValue(0, PORT_MSG),
  v.maxValue(65535, PORT_MSG),
);
const dportList = v.pipe(
  v.union(
    [
      v.array(v.unknown()),
      v.pipe(
        v.string(),
        v.transform((s) => s.split(",")),
      ),
    ],
    "must be a list of port numbers",
  ),
  v.array(v.pipe(portNumber, v.minValue(1, PORT_MSG))),
  v.minLength(1, "must hold at least one port"),
  v.maxLength(15, "must hold at most 15 ports"),
  v.check((ps) => new Set(ps).size === ps.length, "must not repeat a port"),
);
const icmpType = v.pipe(
  v.unknown(),
  v.check(
    (x) =>
      (typeof x === "number" && Number.isInteger(x) && x >= 0 && x <= 255) ||
      (typeof x === "string" && ((/^\d{1,3}$/.test(x) && Number(x) <= 255) || icmpTypeByName(x) !== undefined)),
    "must be a number from 0 to 255 or an ICMP type name such as echo-request",
  ),
  v.transform((x) => (typeof x === "number" ? x : /^\d+$/.test(x as string) ? Number(x) : icmpTypeByName(x as string)!)),
);
const cidr = v.pipe(
  v.string("must be a string"),
  v.rawTransform(({ dataset, addIssue, NEVER }) => {
    if (isAnyAddress(dataset.value)) return undefined;
    const c = parseCidr(dataset.value);
    if (c) return c.text;
    addIssue({ message: "must be an IPv4 or IPv6 address or CIDR (no host names)" });
    return NEVER;
  }),
);
const uuid = v.pipe(
  v.string("must be a string"),
  v.regex(UUID, "must be a UUID"),
  v.transform((s) => s.toLowerCase()),
);
const text = v.pipe(
  v.string("must be a string"),
  v.maxLength(256, "must be at most 256 characters"),
  // biome-ignore lint/suspicious/noControlCharactersInRegex: deliberate input validation: the value must not contain control characters
  v.check((s) => !/[\u0000-\u001f\u007f"\\]/.test(s), "must not contain quotes, backslashes or control characters"),
);
const notSupported = v.optional(
  v.pipe(
    v.unknown(),
    v.check((x) => isAbsent(x) || (Array.isArray(x) && x.length === 0), "is not supported by this agent"),
  ),
);

export const RuleFields = v.looseObject({
  chain_name: maybe(groupName),
  method: maybe(v.picklist(["-A", "-I", "-R", "-D"], "must be one of -A, -I, -R, -D")),
  chain: maybe(hook),
  protocol: maybe(protocol),
  port_start: maybe(portNumber),
  port_end: maybe(portNumber),
  dports: v.optional(
    v.pipe(
      v.unknown(),
      v.rawTransform(({ dataset, addIssue, NEVER }) => {
        const x = dataset.value;
        if (isAbsent(x) || (Array.isArray(x) && x.length === 0)) return undefined;
        const r = v.safeParse(dportList, x);
        if (r.success) return r.output;
        const i = r.issues[0];
        const index = i.path?.find((p) => typeof p.key === "number")?.key;
        addIssue({ message: index !== undefined ? `item ${index} ${i.message}` : i.message });
        return NEVER;
      }),
    ),
  ),
  icmp_type: maybe(icmpType),
  source: maybe(cidr),
  destination: maybe(cidr),
  target: maybe(target),
  description: maybe(text),
  priority: maybe(
    v.pipe(
      v.number("must be a whole number"),
      v.integer("must be a whole number"),
      v.minValue(-400, "must be from -400 to 400"),
      v.maxValue(400, "must be from -400 to 400"),
    ),
  ),
  rule_type: maybe(v.picklist(["user", "server"], "must be user or server")),
  rule_id: maybe(uuid),
  old_rule_id: maybe(uuid),
  operation: maybe(v.picklist(["add", "update", "delete"], "must be add, update or delete")),
  sports: notSupported,
  interface: notSupported,
  out_interface: notSupported,
  state: notSupported,
});

/** Validates `input` with `schema`; errors carry the field path under `prefix`. */
export function check<T>(
  schema: v.GenericSchema<unknown, T>,
  input: unknown,
  prefix: string,
): { ok: true; value: T } | { ok: false; errors: FieldError[] } {
  const r = v.safeParse(schema, input);
  if (r.success) return { ok: true, value: r.output };
  return { ok: false, errors: r.issues.map((i) => ({ path: fieldPath(i, prefix), message: i.message })) };
}

export interface RuleRequest {
  group: string;
  rule: Rule;
  /** -I puts the rule first in its group; everything else appends (or replaces a rule with the same id). */
  insertFirst: boolean;
  operation: "add" | "update" | "delete";
  oldRuleId?: string;
}

/**
 * Checks one rule object (top-level data or an element of rules[]) and builds the canonical rule. For a
 * delete only the group and rule_id matter. `newId` gives a rule_id when none is sent (as the reference does).
 */
export function ruleRequest(
  input: unknown,
  prefix: string,
  fallbackGroup: string | undefined,
  newId: () => string,
  forceOperation?: "add" | "update" | "delete",
): { ok: true; value: RuleRequest } | { ok: false; errors: FieldError[] } {
  const at = (field: string) => (prefix ? `${prefix}.${field}` : field);
  if (typeof input !== "object" || input === null || Array.isArray(input))
    return { ok: false, errors: [{ path: prefix, message: "must be an object" }] };
  const parsed = check(RuleFields, input, prefix);
  if (!parsed.ok) return parsed;
  const f = parsed.value;
  const errors: FieldError[] = [];
  const group = f.chain_name ?? fallbackGroup;
  if (!group) errors.push({ path: at("chain_name"), message: "is required" });
  const operation = forceOperation ?? f.operation ?? (f.method === "-D" ? "delete" : f.method === "-R" ? "update" : "add");
  if (operation === "delete") {
    if (!f.rule_id) errors.push({ path: at("rule_id"), message: "is required to delete a rule" });
    if (errors.length) return { ok: false, errors };
    const rule: Rule = { chain: f.chain ?? "INPUT", protocol: "all", target: "ACCEPT", ruleId: f.rule_id!, ruleType: "user" };
    return { ok: true, value: { group: group!, rule, insertFirst: false, operation } };
  }
  for (const name of ["chain", "protocol", "target"] as const)
    if (f[name] === undefined) errors.push({ path: at(name), message: "is required" });
  const proto = f.protocol;
  const ported = proto === "tcp" || proto === "udp";
  const portStart = f.port_start || undefined;
  const portEnd = f.port_end || undefined;
  if ((portStart || portEnd || f.dports) && proto && !ported)
    errors.push({ path: at(portStart ? "port_start" : portEnd ? "port_end" : "dports"), message: "ports need protocol tcp or udp" });
  if (portEnd && !portStart) errors.push({ path: at("port_end"), message: "needs port_start" });
  if (portStart && portEnd && portEnd < portStart) errors.push({ path: at("port_end"), message: "must not be below port_start" });
  if (f.dports && (portStart || portEnd)) errors.push({ path: at("dports"), message: "cannot be combined with port_start/port_end" });
  if (f.icmp_type !== undefined && proto && proto !== "icmp") errors.push({ path: at("icmp_type"), message: "needs protocol icmp" });
  const fams = [f.source, f.destination].filter((a): a is string => !!a).map((a) => (a.includes(":") ? 6 : 4));
  if (fams.length === 2 && fams[0] !== fams[1]) errors.push({ path: at("destination"), message: "must be the same IP family as source" });
  if (proto === "icmp" && fams.includes(6))
    errors.push({ path: at(f.source?.includes(":") ? "source" : "destination"), message: "protocol icmp is IPv4 only" });
  if (errors.length) return { ok: false, errors };
  const rule: Rule = {
    chain: f.chain!,
    protocol: proto!,
    target: f.target!,
    ruleId: f.rule_id ?? newId(),
    ruleType: f.rule_type ?? "user",
  };
  if (ported && f.dports) rule.dports = f.dports;
  if (ported && portStart) rule.portStart = portStart;
  if (ported && portStart && portEnd && portEnd !== portStart) rule.portEnd = portEnd;
  if (proto === "icmp" && f.icmp_type !== undefined) rule.icmpType = f.icmp_type;
  if (f.source) rule.source = f.source;
  if (f.destination) rule.destination = f.destination;
  return {
    ok: true,
    value: { group: group!, rule, insertFirst: f.method === "-I", operation, ...(f.old_rule_id ? { oldRuleId: f.old_rule_id } : {}) },
  };
}

/** The top-level fields every firewall command may carry (rule fields are checked per rule). */
export const CommandFields = v.looseObject({
  chain_name: maybe(groupName),
  security_group_name: maybe(groupName),
  operation: maybe(v.string("must be a string")),
  action: maybe(v.string("must be a string")),
  method: maybe(v.string("must be a string")),
  chain: maybe(hook),
  rule_id: maybe(uuid),
  old_rule_id: maybe(uuid),
  rules: v.optional(v.nullable(v.array(v.unknown(), "must be a list of rules"))),
  rule: v.optional(v.nullable(v.unknown())),
  chain_names: v.optional(v.nullable(v.array(groupName, "must be a list of security group names"))),
});
export type CommandFieldValues = v.InferOutput<typeof CommandFields>;
