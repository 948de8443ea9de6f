// Fuzz of firewall rule data: an injection corpus (nft grammar, quotes, newlines, braces, host names,
// oversize names, IPv6 without ip6tables) and random mutations of good rules go through the real firewall
// commands with a recording runProcess. Asserts that no hostile text and no rejected payload reaches a process.
import { type CommandResult, invoke } from "../../src/commands/contract.ts";
import type { RunOptions, RunResult } from "../../src/exec/types.ts";
import { createFirewall } from "../../src/capabilities/firewall/index.ts";
import { silentLogger } from "../../src/log/logger.ts";
import { ManualClock } from "../../src/platform/clock.ts";
import { nastyString, Rand, randomValue } from "./rand.ts";
import { fuzzDataDir } from "./data-dir.ts";

/** Every hostile value carries this marker, so its arrival in any argv or script is detectable. */
export const MARKER = "pwned";

export const INJECTIONS: string[] = [
  `10.9.9.9 accept ; add table ip ${MARKER}_src ; add rule ip x input ip saddr 10.9.9.8`,
  `x" ; add table ip ${MARKER}_id ; add rule ip x input accept comment "y`,
  `sg-web ; add table ip ${MARKER}_name`,
  `sg ; flush ruleset ; ${MARKER}`,
  `"${MARKER}"`,
  `'${MARKER}'`,
  `${MARKER}\nflush ruleset`,
  `${MARKER}\r\nadd table ip t`,
  `{ ${MARKER} }`,
  `${MARKER}}`,
  `$(${MARKER})`,
  `\`${MARKER}\``,
  `${MARKER}.example.com`,
  `${MARKER}.invalid`,
  `localhost ${MARKER}`,
  `${MARKER}${"a".repeat(40)}`,
  `a${MARKER}${"b".repeat(15)}`, // 21 characters: one over the group-name cap
  `1${MARKER}`,
  `-${MARKER}`,
  `${MARKER}\\`,
  `${MARKER}\0`,
  `10.0.0.1/33 ${MARKER}`,
  `10.0.0.1,${MARKER}`,
  `2001:db8::1 ${MARKER}`,
  `::ffff:10.0.0.1/${MARKER}`,
  `${MARKER} -j ACCEPT`,
  `--${MARKER}`,
  `80 ${MARKER}`,
  `ACCEPT ; ${MARKER}`,
  `tcp ${MARKER}`,
  `echo-request ; ${MARKER}`,
];

const FIELDS = [
  "chain_name",
  "chain",
  "source",
  "destination",
  "rule_id",
  "old_rule_id",
  "rule_type",
  "protocol",
  "target",
  "icmp_type",
  "port_start",
  "port_end",
  "dports",
  "method",
  "priority",
  "description",
  "security_group_name",
];
const uuid = (n: number) => `${String(n).padStart(8, "0")}-0000-4000-8000-000000000000`;

function goodRule(r: Rand, n: number): Record<string, unknown> {
  const protocol = r.pick(["tcp", "udp", "icmp", "all"]);
  const rule: Record<string, unknown> = {
    chain: r.pick(["INPUT", "OUTPUT", "FORWARD"]),
    protocol,
    target: r.pick(["ACCEPT", "DROP", "REJECT"]),
    rule_id: uuid(n),
  };
  if (protocol === "tcp" || protocol === "udp") rule.port_start = r.int(1, 65535);
  if (r.chance(0.3)) rule.source = r.pick(["10.0.0.0/8", "192.168.1.7", "0.0.0.0/0"]);
  return rule;
}

export interface Backendish {
  calls: RunOptions[];
  run: (o: RunOptions) => Promise<RunResult>;
}

const res = (exitCode: number, output = ""): RunResult => ({ exitCode, output, omittedBytes: 0, timedOut: false });

/** A host with nft (or iptables without ip6tables): reads say "no rules yet", every apply succeeds. */
export function fakeHost(kind: "nftables" | "iptables"): Backendish {
  const calls: RunOptions[] = [];
  const run = async (o: RunOptions): Promise<RunResult> => {
    calls.push(o);
    const cmd = o.argv.join(" ");
    if (kind === "nftables") {
      if (cmd === "nft --version") return res(0, "nftables v1.0.6 (Lester Gooch #5)");
      if (cmd.startsWith("nft -j list")) return res(1, "Error: No such file or directory");
      if (o.argv[0] === "nft") return res(0);
    } else {
      if (cmd === "iptables -V") return res(0, "iptables v1.8.9 (nf_tables)");
      if (cmd === "iptables-save -t filter") return res(0, "*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n");
      if (o.argv[0] === "iptables-restore") return res(0);
    }
    return { ...res(-1), startError: "command not found" };
  };
  return { calls, run };
}

/** Writes to the kernel: the only calls a rejected payload must never cause. */
export const isApply = (o: RunOptions) => (o.argv[0] === "nft" && o.argv.includes("-f")) || /-restore$/.test(o.argv[0] ?? "");

export function failed(r: CommandResult): boolean {
  return r.exitCode !== 0 || /"success"\s*:\s*false/.test(r.result);
}

const COMMANDS: [string, (r: Rand, rules: Record<string, unknown>[]) => Record<string, unknown>][] = [
  ["firewall", (r, rules) => ({ chain_name: "sg-web", operation: r.pick(["add", "update", "delete"]), ...rules[0] })],
  ["firewall", (_r, rules) => ({ chain_name: "sg-web", operation: "batch", rules })],
  ["firewall", () => ({ chain_name: "sg-web", operation: "flush" })],
  ["firewall-batch-apply", (_r, rules) => ({ security_group_name: "sg-web", rules })],
  [
    "firewall-rules",
    (r, rules) => ({ chain_name: "sg-web", action: r.pick(["add_rule", "apply_rules", "update_rule"]), rule: rules[0], rules }),
  ],
  ["firewall-rollback", (r) => ({ chain_name: "sg-web", action: r.pick(["flush", "restore", "delete", ""]) })],
  ["firewall-chain-delete", () => ({ chain_name: "sg-web", chain: "INPUT" })],
  ["firewall-reorder-chains", () => ({ chain_names: ["sg-web", "db"] })],
  ["firewall-reorder-rules", (_r, rules) => ({ chain_name: "sg-web", rules })],
];

export interface FirewallFuzzStats {
  cases: number;
  rejected: number;
  applied: number;
  hostile: number;
}

export async function fuzzFirewall(seed: number, cases: number): Promise<FirewallFuzzStats> {
  const r = new Rand(seed);
  const stats: FirewallFuzzStats = { cases: 0, rejected: 0, applied: 0, hostile: 0 };
  for (let i = 0; i < cases; i++) {
    const host = fakeHost(r.chance(0.7) ? "nftables" : "iptables");
    const fw = createFirewall({
      runProcess: host.run,
      dataDir: fuzzDataDir(),
      clock: new ManualClock(),
      log: silentLogger,
      hasSystemd: () => false,
    });
    const rules = Array.from({ length: r.int(1, 3) }, (_, k) => goodRule(r, i * 4 + k));
    let hostile = false;
    for (const rule of rules) {
      const edits = r.int(0, 2);
      for (let e = 0; e < edits; e++) {
        const field = r.pick(FIELDS);
        const pick = r.next();
        if (pick < 0.6) {
          rule[field] = r.pick(INJECTIONS);
          hostile = true;
        } else if (pick < 0.8) rule[field] = randomValue(r, 1);
        else rule[field] = nastyString(r, 3);
        if (field === "source" && r.chance(0.2)) rule.source = "2001:db8::/32"; // IPv6: iptables here has no ip6tables
      }
    }
    const [name, build] = r.pick(COMMANDS);
    const data = build(r, rules);
    if (r.chance(0.2))
      data[r.pick(["chain_name", "security_group_name", "operation", "action", "chain_names"])] = r.chance(0.7)
        ? r.pick(INJECTIONS)
        : randomValue(r, 1);
    const handler = fw.commands.find((c) => c.name === name)!;
    let result: CommandResult;
    const where = () => `seed ${seed} case ${i} ${name} ${JSON.stringify(data).slice(0, 400)}`;
    try {
      result = await invoke(name, handler, {
        id: "fz",
        args: [],
        line: name,
        data,
        user: null,
        group: null,
        env: null,
        signal: new AbortController().signal,
        log: silentLogger,
      });
    } catch (err) {
      throw new Error(`${where()}: threw ${String(err)}`);
    }
    if (typeof result.result !== "string" || result.result.trim() === "") throw new Error(`${where()}: no message`);
    for (const call of host.calls) {
      const text =
        call.argv.join(" ") +
        "\n" +
        (typeof call.stdin === "string" ? call.stdin : new TextDecoder().decode(call.stdin ?? new Uint8Array()));
      if (text.toLowerCase().includes(MARKER))
        throw new Error(`${where()}: hostile text reached ${call.argv.join(" ")}:\n${text.slice(0, 600)}`);
    }
    const applies = host.calls.filter(isApply);
    if (failed(result)) {
      stats.rejected++;
      if (applies.length > 0) throw new Error(`${where()}: rejected (${result.result}) but ran ${applies[0]!.argv.join(" ")}`);
    } else stats.applied++;
    if (hostile) stats.hostile++;
    stats.cases++;
  }
  return stats;
}
