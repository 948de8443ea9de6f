// Validation of firewall command data: canonical values, compatibility with reference and upstream
// payloads, and every injection payload of spec/firewall.md §7.2 rejected with the field named.
import { describe, expect, test } from "bun:test";
import { parseCidr } from "../../../src/capabilities/firewall/addr.ts";
import { ruleRequest, formatErrors } from "../../../src/capabilities/firewall/schema.ts";
import { parseRuleComment } from "../../../src/capabilities/firewall/model.ts";
import { parseNftRule } from "../../../src/capabilities/firewall/nft.ts";
import { parseIptablesRule } from "../../../src/capabilities/firewall/iptables.ts";
import type { RunOptions, RunResult } from "../../../src/exec/types.ts";
import { useTempDirs } from "../../helpers/tmp.ts";
import { ID, makeFirewall, wireRule } from "./harness.ts";

const newId = () => ID(999);
const tempDir = useTempDirs("alpamon-fwschema-");
const parse = (data: Record<string, unknown>) => ruleRequest(data, "", "sg-web", newId);
const errorOf = (data: Record<string, unknown>) => {
  const r = parse(data);
  if (r.ok) throw new Error(`accepted: ${JSON.stringify(data)}`);
  return formatErrors(r.errors);
};
const base = { chain: "INPUT", protocol: "tcp", target: "ACCEPT", rule_id: ID(1) };

describe("CIDRs", () => {
  test("canonicalised, host bits cleared, IPv6 compressed; names and junk refused", () => {
    expect(parseCidr("10.1.2.3/8")?.text).toBe("10.0.0.0/8");
    expect(parseCidr("192.168.1.7")?.text).toBe("192.168.1.7/32");
    expect(parseCidr("2001:DB8:0:0:0:0:0:1/64")?.text).toBe("2001:db8::/64");
    expect(parseCidr("fe80::1")?.text).toBe("fe80::1/128");
    for (const bad of ["localhost", "10.1", "256.0.0.1", "1.2.3.4/33", "::/129", "1:2:3", "10.0.0.1/8 accept", "01.2.3.4"])
      expect(parseCidr(bad)).toBeUndefined();
  });
});

describe("rule fields", () => {
  test("a full reference payload becomes one canonical rule", () => {
    const r = parse({
      ...base,
      chain: "input",
      protocol: "TCP",
      dports: [" 443", 80],
      source: "10.9.9.9/8",
      target: "drop",
      rule_type: "server",
      method: "-A",
      priority: 10,
    });
    expect(r).toEqual({
      ok: true,
      value: {
        group: "sg-web",
        insertFirst: false,
        operation: "add",
        rule: {
          chain: "INPUT",
          protocol: "tcp",
          dports: [443, 80],
          source: "10.0.0.0/8",
          target: "DROP",
          ruleId: ID(1),
          ruleType: "server",
        },
      },
    });
  });

  test("compatibility: icmp_type as number or name, dports as strings with spaces, no method, 0.0.0.0/0 is any", () => {
    const a = parse({ ...base, protocol: "icmp", icmp_type: 8, source: "0.0.0.0/0" });
    const b = parse({ ...base, protocol: "icmp", icmp_type: "echo-request" });
    expect(a.ok && a.value.rule).toEqual({
      chain: "INPUT",
      protocol: "icmp",
      icmpType: 8,
      target: "ACCEPT",
      ruleId: ID(1),
      ruleType: "user",
    });
    expect(b.ok && b.value.rule.icmpType).toBe(8);
    const c = parse({ ...base, dports: ["80", " 443 "], port_start: 0 });
    expect(c.ok && c.value.rule.dports).toEqual([80, 443]);
    const d = parse({ ...base, rule_id: undefined });
    expect(d.ok && d.value.rule.ruleId).toBe(ID(999));
  });

  test("each wrong field is named with what is wrong", () => {
    expect(errorOf({ ...base, chain: "PREROUTING" })).toBe("chain: must be one of INPUT, OUTPUT, FORWARD");
    expect(errorOf({ ...base, protocol: "sctp" })).toBe("protocol: must be one of tcp, udp, icmp, all");
    expect(errorOf({ ...base, port_start: 70000 })).toBe("port_start: must be a port number from 1 to 65535");
    expect(errorOf({ ...base, port_start: "80", port_end: 79 })).toBe("port_end: must not be below port_start");
    expect(errorOf({ ...base, port_end: 80 })).toBe("port_end: needs port_start");
    expect(errorOf({ ...base, protocol: "icmp", port_start: 80 })).toBe("port_start: ports need protocol tcp or udp");
    expect(errorOf({ ...base, dports: [80, 80] })).toBe("dports: must not repeat a port");
    expect(errorOf({ ...base, dports: [80, 99999] })).toBe("dports: item 1 must be a port number from 1 to 65535");
    expect(errorOf({ ...base, dports: [...Array(16).keys()].map((i) => i + 1) })).toBe("dports: must hold at most 15 ports");
    expect(errorOf({ ...base, dports: [80], port_start: 81 })).toBe("dports: cannot be combined with port_start/port_end");
    expect(errorOf({ ...base, icmp_type: 8 })).toBe("icmp_type: needs protocol icmp");
    expect(errorOf({ ...base, protocol: "icmp", icmp_type: "ping-of-death" })).toContain("icmp_type: must be a number from 0 to 255");
    expect(errorOf({ ...base, target: "MASQUERADE" })).toBe("target: must be one of ACCEPT, DROP, REJECT, LOG, RETURN");
    expect(errorOf({ ...base, rule_type: "admin" })).toBe("rule_type: must be user or server");
    expect(errorOf({ ...base, source: "10.0.0.0/8", destination: "2001:db8::/32" })).toBe(
      "destination: must be the same IP family as source",
    );
    expect(errorOf({ ...base, state: "NEW" })).toBe("state: is not supported by this agent");
    expect(errorOf({ ...base, priority: 1000 })).toBe("priority: must be from -400 to 400");
    expect(errorOf({ chain: "INPUT" })).toBe("protocol: is required; target: is required");
  });
});

describe("injection payloads (spec §7.2) are refused before anything runs", () => {
  const payloads: [string, Record<string, unknown>][] = [
    ["source", { source: "10.9.9.9 accept ; add table ip pwned_by_source ; add rule ip sg-web input ip saddr 10.9.9.8" }],
    ["destination", { destination: "10.0.0.1; flush ruleset" }],
    ["rule_id", { rule_id: 'x" ; add table ip pwned_by_ruleid ; add rule ip sg-web input accept comment "y' }],
    ["chain_name", { chain_name: "sg-web ; add table ip pwned_by_chainname" }],
    ["chain_name", { chain_name: "sg\nflush ruleset" }],
    ["chain_name", { chain_name: "sg{web}" }],
    ["chain_name", { chain_name: "123abc" }],
    ["chain_name", { chain_name: "a".repeat(21) }],
    ["chain_name", { chain_name: "a".repeat(29) }],
    ["chain", { chain: "input ; flush ruleset" }],
    ["protocol", { protocol: "tcp ; flush ruleset" }],
    ["source", { source: "localhost" }],
    ["source", { source: "example.com" }],
    ["source", { source: "10.0.0.0/8,10.1.0.0/16" }],
    ["target", { target: "accept ; flush ruleset" }],
    ["rule_type", { rule_type: 'user" ; flush ruleset ; "' }],
    ["description", { description: 'a"b' }],
    ["icmp_type", { protocol: "icmp", icmp_type: "8 ; flush ruleset" }],
    ["source", { protocol: "icmp", source: "2001:db8::1" }],
  ];
  for (const [field, payload] of payloads) {
    test(`${field}: ${JSON.stringify(Object.values(payload)[Object.keys(payload).length - 1]).slice(0, 50)}`, () => {
      expect(errorOf({ ...base, ...payload })).toContain(`${field}: `);
    });
  }
});

describe("description: no control characters", () => {
  const MESSAGE = "description: must not contain quotes, backslashes or control characters";
  // Like every string field, a description is trimmed first (String.prototype.trim), so a newline, CR or tab
  // at either end is dropped, never kept; inside the text it is refused. NUL, ESC and DEL are not
  // whitespace: refused anywhere, alone too.
  const NAMED: [string, string, boolean][] = [
    ["newline", "\n", true],
    ["carriage return", "\r", true],
    ["tab", "\t", true],
    ["NUL", "\x00", false],
    ["escape (terminal sequences)", "\x1b", false],
    ["DEL", "\x7f", false],
  ];
  for (const [name, char, trimmed] of NAMED) {
    test(`${name} is refused ${trimmed ? "inside the text" : "anywhere"}, naming the field`, () => {
      const places = trimmed
        ? [`we${char}b`, `a b${char}${char}c d`, ` x${char}y `]
        : [`web${char}`, `${char}web`, `we${char}b`, char, ` ${char} `];
      for (const description of places)
        expect({ description, error: errorOf({ ...base, description }) }).toEqual({ description, error: MESSAGE });
      expect(errorOf({ ...base, description: `web\x1b[2J${char}x` })).toBe(MESSAGE);
    });
  }

  test("every C0 control and DEL is refused; printable ASCII and non-ASCII text are kept", () => {
    for (let code = 0; code <= 0x1f; code++)
      expect({ code, error: errorOf({ ...base, description: `a${String.fromCharCode(code)}b` }) }).toEqual({ code, error: MESSAGE });
    expect({ code: 0x7f, error: errorOf({ ...base, description: "a\x7fb" }) }).toEqual({ code: 0x7f, error: MESSAGE });
    expect(parse({ ...base, description: "web servers: 80/443 (ok) #1 <a>' é 한글" }).ok).toBe(true);
  });

  test("firewall-rules refuses it before any tool runs, and says which rule field", async () => {
    const calls: RunOptions[] = [];
    const answer: RunResult = { exitCode: 0, output: "nftables v1.0.6", omittedBytes: 0, timedOut: false };
    const fw = makeFirewall(
      async (o) => {
        calls.push(o);
        return answer;
      },
      tempDir(),
      "nftables",
    );
    const r = await fw.call("firewall-rules", {
      action: "add_rule",
      chain_name: "sg",
      rule: wireRule(1, { description: "ok\nflush ruleset" }),
    });
    expect(r.exitCode).toBe(1);
    expect(r.result).toContain("description: must not contain quotes, backslashes or control characters");
    expect(calls).toEqual([]);
  });
});

describe("comment tag", () => {
  test("exact fields, never substrings", () => {
    expect(parseRuleComment(`sg:web,rule_id:${ID(1)},type:server`)).toEqual({ group: "web", ruleId: ID(1), ruleType: "server" });
    expect(parseRuleComment("rule_id:abc,type:user")).toEqual({ ruleType: "user" });
  });
});

// Names every plain object inherits: a lookup `table[name]` or `name in table` finds them on the prototype.
const PROTOTYPE_NAMES = ["__proto__", "constructor", "toString", "hasOwnProperty", "valueOf", "isPrototypeOf", "__defineGetter__"];

describe("prototype names are never table entries", () => {
  test("icmp_type: __proto__, constructor, toString, hasOwnProperty ... are refused by validation", () => {
    for (const name of PROTOTYPE_NAMES) {
      expect(errorOf({ ...base, protocol: "icmp", icmp_type: name })).toBe(
        "icmp_type: must be a number from 0 to 255 or an ICMP type name such as echo-request",
      );
    }
  });

  test("every other table-indexed field refuses them too, naming the field", () => {
    const fields: [string, string][] = [
      ["chain", "must be one of INPUT, OUTPUT, FORWARD"],
      ["protocol", "must be one of tcp, udp, icmp, all"],
      ["target", "must be one of ACCEPT, DROP, REJECT, LOG, RETURN"],
      ["method", "must be one of -A, -I, -R, -D"],
      ["rule_type", "must be user or server"],
      ["operation", "must be add, update or delete"],
    ];
    for (const name of PROTOTYPE_NAMES) {
      for (const [field, message] of fields) expect(errorOf({ ...base, [field]: name })).toBe(`${field}: ${message}`);
    }
  });

  test("firewall-rules: a prototype name as action is an unknown action, and no tool runs", async () => {
    const calls: RunOptions[] = [];
    const answer: RunResult = { exitCode: 0, output: "nftables v1.0.6", omittedBytes: 0, timedOut: false };
    const fw = makeFirewall(
      async (o) => {
        calls.push(o);
        return answer;
      },
      tempDir(),
      "nftables",
    );
    for (const action of PROTOTYPE_NAMES) {
      const r = await fw.call("firewall-rules", { action, chain_name: "sg", rule: wireRule(1) });
      expect(r).toEqual({
        exitCode: 1,
        result: JSON.stringify({
          success: false,
          message: `Unknown action '${action}', use add_rule, update_rule, delete_rule or apply_rules`,
        }),
      });
    }
    expect(calls).toEqual([]);
  });

  test("an ICMP type name read back from nft or iptables-save is looked up as an own entry only", () => {
    const comment = `rule_id:${ID(1)},type:user`;
    const nftRule = (type: string) => [
      { match: { op: "==", left: { payload: { protocol: "icmp", field: "type" } }, right: type } },
      { accept: null },
    ];
    expect(parseNftRule(nftRule("echo-request"), comment, "INPUT")?.icmpType).toBe(8);
    const iptRule = (type: string) => [
      "-p",
      "icmp",
      "-m",
      "icmp",
      "--icmp-type",
      type,
      "-m",
      "comment",
      "--comment",
      `sg:web,${comment}`,
      "-j",
      "ACCEPT",
    ];
    expect(parseIptablesRule(iptRule("echo-request"), "INPUT")?.rule.icmpType).toBe(8);
    for (const name of PROTOTYPE_NAMES) {
      expect(parseNftRule(nftRule(name), comment, "INPUT")).toBeUndefined();
      expect(parseIptablesRule(iptRule(name), "INPUT")).toBeUndefined();
    }
  });
});
