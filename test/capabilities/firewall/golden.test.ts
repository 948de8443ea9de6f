// Golden scripts per backend: the exact nft and iptables-restore text the builders produce for one state
// that covers every field form, and for the removal of everything. UPDATE_GOLDEN=1 rewrites the files.
import { describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { iptablesScript, type IptablesPresence } from "../../../src/capabilities/firewall/iptables.ts";
import type { FirewallState } from "../../../src/capabilities/firewall/model.ts";
import { nftScript } from "../../../src/capabilities/firewall/nft.ts";
import { ruleRequest } from "../../../src/capabilities/firewall/schema.ts";
import { ID } from "./harness.ts";

const DIR = join(import.meta.dir, "golden");

function golden(name: string, text: string): void {
  const path = join(DIR, name);
  if (process.env.UPDATE_GOLDEN === "1") writeFileSync(path, text);
  expect(text).toBe(readFileSync(path, "utf8"));
}

const wire: Record<string, unknown>[] = [
  { chain: "INPUT", protocol: "tcp", dports: [80, 443], source: "10.0.0.0/8", target: "ACCEPT" },
  { chain: "INPUT", protocol: "tcp", port_start: 1000, port_end: 2000, source: "2001:db8::/32", target: "DROP" },
  { chain: "INPUT", protocol: "udp", port_start: 53, destination: "192.168.1.10", target: "REJECT", rule_type: "server" },
  { chain: "INPUT", protocol: "icmp", icmp_type: "echo-request", target: "ACCEPT" },
  { chain: "INPUT", protocol: "icmp", target: "DROP" },
  { chain: "OUTPUT", protocol: "tcp", target: "LOG" },
  { chain: "FORWARD", protocol: "all", source: "fd00::/8", target: "RETURN" },
  { chain: "INPUT", protocol: "all", target: "ACCEPT" },
  { chain: "INPUT", protocol: "tcp", port_start: 25, target: "REJECT" },
];

function stateOf(groups: [string, Record<string, unknown>[]][]): FirewallState {
  let n = 0;
  return groups.map(([name, rules]) => ({
    name,
    rules: rules.map((r) => {
      const x = ruleRequest({ ...r, rule_id: ID(++n) }, "", name, () => "");
      if (!x.ok) throw new Error(JSON.stringify(x.errors));
      return x.value.rule;
    }),
  }));
}

const STATE = stateOf([
  ["sg-web", wire],
  ["db", [wire[0]!]],
]);
const none: IptablesPresence = { chains: new Set(), jumps: { INPUT: 0, OUTPUT: 0, FORWARD: 0 } };
const installed: IptablesPresence = { chains: new Set(["INPUT", "OUTPUT", "FORWARD"]), jumps: { INPUT: 2, OUTPUT: 1, FORWARD: 1 } };

describe("nft", () => {
  test("full state", () => golden("full.nft", nftScript(STATE).text));
  test("empty state removes only the table", () => golden("empty.nft", nftScript([]).text));
  test("script lines point at their rules", () => {
    const s = nftScript(STATE);
    const lines = s.text.split("\n");
    for (const [line, ref] of s.lines) expect(lines[line - 1]).toContain(`rule_id:${ref.ruleId}`);
    expect(s.lines.size).toBe(10);
  });
});

describe("iptables", () => {
  test("IPv4, first install adds one jump per hook", () => golden("full.v4.rules", iptablesScript(STATE, 4, none)!.text));
  test("IPv6 leaves out IPv4-only and ICMP rules", () => golden("full.v6.rules", iptablesScript(STATE, 6, none)!.text));
  test("already installed: no new jump, an extra jump is removed", () =>
    golden("reapply.v4.rules", iptablesScript(STATE, 4, installed)!.text));
  test("empty state removes jumps and chains", () => golden("empty.v4.rules", iptablesScript([], 4, installed)!.text));
  test("empty state and nothing installed: nothing to run", () => expect(iptablesScript([], 4, none)).toBeUndefined());
});
