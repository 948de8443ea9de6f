// The firewall commands against real kernels, per backend, in private network namespaces: rules parsed
// back, packets over a veth pair, one jump per hook, atomic failure, foreign objects untouched, injection
// refused, serialised batches, rollback after a restart. The host ruleset must be identical afterwards.
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { statSync, readdirSync } from "node:fs";
import { join } from "node:path";
import type { RunOptions } from "../../../src/exec/types.ts";
import type { SyncChain } from "../../../src/capabilities/firewall/index.ts";
import { useTempDirs } from "../../helpers/tmp.ts";
import { ID, makeFirewall, wireRule } from "./harness.ts";
import { CLIENT_IP6, CLIENT_IPS, Lab, canUseNetns, hostSnapshot, sh } from "./netns.ts";

const tempDir = useTempDirs("alpamon-fw-");
let hostBefore = "";
const labs: Lab[] = [];
let legacy = false;
const newLab = async (veth = false) => {
  const lab = await Lab.create({ veth, legacy });
  labs.push(lab);
  return lab;
};

beforeAll(async () => {
  if (canUseNetns) hostBefore = await hostSnapshot();
});
afterEach(async () => {
  for (const lab of labs.splice(0)) await lab.destroy();
});
afterAll(async () => {
  if (!canUseNetns) return;
  expect(await hostSnapshot()).toBe(hostBefore);
  const left = (await sh(["ip", "netns", "list"])).output;
  expect(left).not.toContain(`alp-fwa-${process.pid.toString(36)}`);
});

/** The whole agent-namespace ruleset as the matching tools print it (iptables comments and counters dropped). */
async function ruleset(lab: Lab, backend: string): Promise<string> {
  if (backend === "nftables") return (await lab.exec(["nft", "list", "ruleset"])).output;
  const norm = (t: string) =>
    t
      .split("\n")
      .filter((l) => !l.startsWith("#"))
      .map((l) => l.replace(/\[\d+:\d+\]/g, "[0:0]"))
      .join("\n");
  return norm((await lab.exec(["iptables-save"])).output) + norm((await lab.exec(["ip6tables-save"])).output);
}

/** Foreign state as on a real host: a policy-drop inet filter table, a DOCKER-USER chain, a lo rule. */
async function seedForeign(lab: Lab): Promise<void> {
  const nft = "table inet filter {\n\tchain input {\n\t\ttype filter hook input priority 10; policy drop;\n\t\tiif lo accept\n\t}\n}\n";
  expect((await lab.exec(["nft", "-f", "-"], nft)).exitCode).toBe(0);
  for (const argv of [
    ["iptables", "-N", "DOCKER-USER"],
    ["iptables", "-A", "DOCKER-USER", "-j", "RETURN"],
    ["iptables", "-A", "INPUT", "-i", "lo", "-j", "ACCEPT"],
    ["ip6tables", "-A", "INPUT", "-i", "lo", "-j", "ACCEPT"],
    // iptables-nft creates a built-in chain the first time it is used; a real host already has them all.
    ["iptables", "-P", "OUTPUT", "ACCEPT"],
    ["iptables", "-P", "FORWARD", "ACCEPT"],
    ["ip6tables", "-P", "OUTPUT", "ACCEPT"],
    ["ip6tables", "-P", "FORWARD", "ACCEPT"],
  ]) {
    expect((await lab.exec(argv)).exitCode).toBe(0);
  }
}

/** Everything that is not the agent's: nft without table inet alpacon, iptables without ALPACON lines. */
async function foreign(lab: Lab): Promise<string> {
  const doc = JSON.parse((await lab.exec(["nft", "-j", "list", "ruleset"])).output) as {
    nftables: Record<string, { table?: string; name?: string; handle?: number }>[];
  };
  const nft = doc.nftables.filter(
    (o) =>
      !Object.values(o).some((x) => x.table === "alpacon" || (x.name === "alpacon" && "family" in x)) &&
      !JSON.stringify(o).includes("ALPACON"),
  );
  const ipt = (await ruleset(lab, "iptables"))
    .split("\n")
    .filter((l) => !l.includes("ALPACON"))
    .join("\n");
  return JSON.stringify(nft.filter((o) => !("metainfo" in o))) + ipt;
}

const skip = !canUseNetns;

const hasLegacy = Bun.spawnSync(["which", "iptables-legacy"]).exitCode === 0;
const variants: { backend: "nftables" | "iptables"; legacy: boolean }[] = [
  { backend: "nftables", legacy: false },
  { backend: "iptables", legacy: false },
  ...(hasLegacy ? [{ backend: "iptables" as const, legacy: true }] : []),
];

for (const { backend, legacy: useLegacy } of variants) {
  describe.skipIf(skip)(`${backend}${useLegacy ? " (legacy)" : ""} in a private namespace`, () => {
    beforeAll(() => {
      legacy = useLegacy;
    });

    test("batch applies all forms; parsed back exactly; sync reports the real targets, CIDRs and protocols", async () => {
      const lab = await newLab();
      const fw = makeFirewall(lab.runProcess, tempDir(), backend);
      const rules = [
        wireRule(1, { dports: [80, 443], port_start: undefined, source: "10.1.2.3/8", target: "drop" }),
        wireRule(2, { port_start: 1000, port_end: 2000, source: "2001:DB8::/32", target: "REJECT" }),
        wireRule(3, { protocol: "icmp", port_start: undefined, icmp_type: 8, rule_type: "server" }),
        wireRule(4, { chain: "OUTPUT", protocol: "udp", port_start: 53, destination: "192.168.1.10" }),
        wireRule(5, { chain: "FORWARD", protocol: "all", port_start: undefined, target: "RETURN" }),
      ];
      const r = await fw.call("firewall", { chain_name: "sg-web", operation: "batch", rules });
      expect(JSON.parse(r.result)).toEqual({
        success: true,
        applied_rules: 5,
        failed_rules: [],
        rolled_back: false,
        rollback_reason: null,
        message: "Successfully applied 5 rules",
      });
      expect(r.exitCode).toBe(0);
      const chains = await fw.collectFirewallChains();
      // iptables keeps IPv4 and IPv6 in two tables, so the relative order of an IPv4-only and an
      // IPv6-only rule (which never match the same packet) is not recorded there; nft keeps it.
      const byId = (x: { rule_id: string }, y: { rule_id: string }) => x.rule_id.localeCompare(y.rule_id);
      if (backend === "iptables") chains[0]!.rules.sort(byId);
      expect(chains).toEqual<SyncChain[]>([
        {
          name: "sg-web",
          rules: [
            {
              chain: "INPUT",
              protocol: "tcp",
              source_cidr: "10.0.0.0/8",
              target: "DROP",
              priority: 100,
              dports: "80,443",
              rule_id: ID(1),
              rule_type: "user",
            },
            {
              chain: "INPUT",
              protocol: "tcp",
              source_cidr: "2001:db8::/32",
              port_start: 1000,
              port_end: 2000,
              target: "REJECT",
              priority: 100,
              rule_id: ID(2),
              rule_type: "user",
            },
            {
              chain: "INPUT",
              protocol: "icmp",
              source_cidr: "0.0.0.0/0",
              target: "ACCEPT",
              priority: 100,
              icmp_type: 8,
              rule_id: ID(3),
              rule_type: "server",
            },
            {
              chain: "OUTPUT",
              protocol: "udp",
              source_cidr: "0.0.0.0/0",
              destination_cidr: "192.168.1.10/32",
              port_start: 53,
              port_end: 53,
              target: "ACCEPT",
              priority: 100,
              rule_id: ID(4),
              rule_type: "user",
            },
            {
              chain: "FORWARD",
              protocol: "all",
              source_cidr: "0.0.0.0/0",
              target: "RETURN",
              priority: 100,
              rule_id: ID(5),
              rule_type: "user",
            },
          ],
        },
      ]);
      // The comment tag is in the kernel, as written.
      expect(await ruleset(lab, backend)).toContain(`rule_id:${ID(3)},type:server`);
    });

    test("packets: accept, drop, reject; single, range and set ports; matching and other sources; IPv6", async () => {
      const lab = await newLab(true);
      await lab.listen([8080, 8081, 8082, 8083, 8090]);
      const fw = makeFirewall(lab.runProcess, tempDir(), backend);
      const [a, b] = CLIENT_IPS;
      expect(await lab.connect(b, 8080)).toBe("open");
      const rules = [
        wireRule(1, { port_start: 8080, source: `${b}/32`, target: "DROP" }),
        wireRule(2, { port_start: 8081, port_end: 8082, target: "REJECT" }),
        wireRule(3, { port_start: undefined, dports: [8083, 8090], source: "10.98.0.0/24", target: "DROP" }),
        wireRule(4, { port_start: 8090, source: `${CLIENT_IP6}/128`, target: "REJECT" }),
      ];
      expect((await fw.call("firewall", { chain_name: "sg-web", operation: "batch", rules })).exitCode).toBe(0);
      expect(await lab.connect(b, 8080)).toBe("blocked");
      expect(await lab.connect(a, 8080)).toBe("open");
      expect(await lab.connect(a, 8081)).toBe("refused");
      expect(await lab.connect(a, 8082)).toBe("refused");
      expect(await lab.connect(a, 8083)).toBe("blocked");
      expect(await lab.connect(b, 8090)).toBe("blocked");
      expect(await lab.connect(CLIENT_IP6, 8090)).toBe("refused");
      expect(await lab.connect(CLIENT_IP6, 8080)).toBe("open");
      // An explicit ACCEPT placed first wins over the later DROP in the same group.
      const add = await fw.call("firewall", {
        chain_name: "sg-web",
        operation: "add",
        method: "-I",
        ...wireRule(9, { port_start: 8080, source: b }),
      });
      expect(add.exitCode).toBe(0);
      expect(await lab.connect(b, 8080)).toBe("open");
      // delete by id, then rollback of that delete
      expect((await fw.call("firewall", { chain_name: "sg-web", operation: "delete", rule_id: ID(2) })).result).toBe(
        `Successfully deleted rule with ID ${ID(2)}`,
      );
      expect(await lab.connect(a, 8081)).toBe("open");
      expect((await fw.call("firewall-rollback", {})).result).toBe("Firewall rules rolled back successfully");
      expect(await lab.connect(a, 8081)).toBe("refused");
    });

    test("exactly one jump per hook after repeated applies; removing the last group removes every agent object", async () => {
      const lab = await newLab();
      await seedForeign(lab);
      const before = await ruleset(lab, backend);
      const fw = makeFirewall(lab.runProcess, tempDir(), backend);
      for (let i = 1; i <= 3; i++)
        expect((await fw.call("firewall", { chain_name: `sg${i}`, operation: "add", ...wireRule(i) })).exitCode).toBe(0);
      expect((await fw.call("firewall", { chain_name: "sg1", operation: "add", ...wireRule(1, { port_start: 9999 }) })).exitCode).toBe(0);
      if (backend === "iptables") {
        for (const tool of ["iptables", "ip6tables"]) {
          const s = (await lab.exec([tool, "-S", "INPUT"])).output;
          expect(s.split("\n").filter((l) => l.includes("ALPACON")).length).toBe(1);
        }
      } else {
        const input = (await lab.exec(["nft", "list", "chain", "inet", "alpacon", "input"])).output;
        expect(input.match(/jump sg1_input/g)?.length).toBe(1);
        expect(input.match(/jump /g)?.length).toBe(3);
      }
      const state = await fw.service.read();
      expect(typeof state !== "string" && state.map((g) => [g.name, g.rules.map((r) => r.portStart)])).toEqual([
        ["sg1", [9999]],
        ["sg2", [8002]],
        ["sg3", [8003]],
      ]);
      for (const sg of ["sg1", "sg2", "sg3"]) expect((await fw.call("firewall-chain-delete", { chain_name: sg })).exitCode).toBe(0);
      expect(await ruleset(lab, backend)).toBe(before);
    });

    test("a failing kernel transaction changes nothing, byte for byte, and says which rule failed", async () => {
      const lab = await newLab(true);
      await lab.listen([8080]);
      const fw0 = makeFirewall(lab.runProcess, tempDir(), backend);
      expect(
        (
          await fw0.call("firewall", {
            chain_name: "sg-web",
            operation: "add",
            ...wireRule(1, { port_start: 8080, source: CLIENT_IPS[1], target: "DROP" }),
          })
        ).exitCode,
      ).toBe(0);
      const before = await ruleset(lab, backend);
      // The real commit gets one extra bad line after rule 2; the check before it passes untouched.
      const sabotage = (o: RunOptions) => {
        const commit = typeof o.stdin === "string" && !o.argv.includes("-c") && !o.argv.includes("--test");
        if (!commit) return lab.runProcess(o);
        const stdin =
          backend === "nftables"
            ? (o.stdin as string).replace("tcp dport 8003 accept", "tcp dport 8003 frobnicate")
            : (o.stdin as string).replace(`${ID(3)},type:user" -j ACCEPT`, `${ID(3)},type:user" -j NO-SUCH-TARGET`);
        return lab.runProcess({ ...o, stdin });
      };
      const fw = makeFirewall(sabotage, tempDir(), backend);
      const r = await fw.call("firewall", { chain_name: "sg-web", operation: "batch", rules: [wireRule(2), wireRule(3), wireRule(4)] });
      const body = JSON.parse(r.result);
      expect(r.exitCode).toBe(1);
      expect(body.rolled_back).toBe(true);
      expect(body.success).toBe(false);
      expect(body.failed_rules).toHaveLength(1);
      // nft names the line (so the rule); iptables-nft reports such errors at COMMIT, which names no rule.
      if (backend === "nftables") expect(body.failed_rules[0]).toStartWith("rule[1]: ");
      else expect(body.failed_rules[0]).toMatch(/^(rule\[1\]|batch): .*NO-SUCH-TARGET/);
      expect(await ruleset(lab, backend)).toBe(before);
      expect(await lab.connect(CLIENT_IPS[1], 8080)).toBe("blocked");
      expect(await lab.connect(CLIENT_IPS[0], 8080)).toBe("open");
      expect(fw.service.backups.count()).toBe(0);
    });

    test("foreign tables and chains stay byte-identical through add, update, delete, flush, rollback", async () => {
      const lab = await newLab();
      await seedForeign(lab);
      const before = await foreign(lab);
      const fw = makeFirewall(lab.runProcess, tempDir(), backend);
      const steps: [string, Record<string, unknown>][] = [
        ["firewall", { chain_name: "sg-web", operation: "add", ...wireRule(1) }],
        ["firewall", { chain_name: "sg-web", operation: "update", rules: [wireRule(1, { port_start: 22 })] }],
        ["firewall", { chain_name: "sg-web", operation: "batch", rules: [wireRule(2), wireRule(3, { operation: "delete" })] }],
        ["firewall", { chain_name: "sg-web", operation: "delete", rule_id: ID(2) }],
        ["firewall", { chain_name: "sg-web", operation: "flush" }],
        ["firewall-rollback", {}],
        ["firewall-rollback", { chain_name: "sg-web", operation: "delete" }],
      ];
      const results: string[] = [];
      for (const [name, data] of steps) {
        results.push(`${(await fw.call(name, data)).result}`);
        expect(await foreign(lab)).toBe(before);
      }
      expect(results[0]).toBe(
        backend === "nftables"
          ? "Successfully executed rule for security group table sg-web."
          : "Successfully executed rule for security group chain ALPACON-INPUT.",
      );
      expect(results[1]).toBe(`Successfully updated rule with ID ${ID(1)}`);
      expect(JSON.parse(results[2]!).failed_rules).toEqual([`rule[1]: Rule with ID ${ID(3)} not found`]);
      expect(results[5]).toBe("Firewall rules rolled back successfully");
      expect(results[6]).toBe(
        backend === "nftables" ? "Successfully deleted table sg-web" : "Successfully deleted chains for security group sg-web",
      );
    });

    test("every injection payload is refused with exit 1 and the tables are unchanged", async () => {
      const lab = await newLab();
      const fw = makeFirewall(lab.runProcess, tempDir(), backend);
      expect((await fw.call("firewall", { chain_name: "sg-web", operation: "add", ...wireRule(1) })).exitCode).toBe(0);
      const before = await ruleset(lab, backend);
      const payloads: Record<string, unknown>[] = [
        {
          chain_name: "sg-web",
          operation: "add",
          ...wireRule(2, { source: "10.9.9.9 accept ; add table ip pwned ; add rule ip sg-web input ip saddr 10.9.9.8" }),
        },
        {
          chain_name: "sg-web",
          operation: "add",
          ...wireRule(2),
          rule_id: 'x" ; add table ip pwned ; add rule ip sg-web input accept comment "y',
        },
        { chain_name: "sg-web ; add table ip pwned", operation: "flush" },
        { chain_name: "sg-web", operation: "batch", rules: [wireRule(2), wireRule(3, { protocol: "tcp ; flush ruleset" })] },
        {
          chain_name: "sg-web",
          operation: "batch",
          rules: [wireRule(2, { protocol: "icmp", port_start: undefined, icmp_type: "8 ; flush ruleset" })],
        },
        { chain_name: "sg-web", operation: "add", ...wireRule(2, { chain: "input\nflush ruleset" }) },
        { chain_name: "sg-web", operation: "add", ...wireRule(2, { source: "{ 10.0.0.1 }" }) },
        { chain_name: "sg-web", operation: "add", ...wireRule(2, { source: "localhost" }) },
        { chain_name: "sg-web", operation: "add", ...wireRule(2, { protocol: "icmp", port_start: undefined, source: "2001:db8::1" }) },
        { chain_name: "a".repeat(29), operation: "add", ...wireRule(2) },
        { chain_name: "1abc", operation: "add", ...wireRule(2) },
        { chain_name: "sg-web", operation: "delete", rule_id: "abc" },
        { chain_name: "sg-web", operation: "add", ...wireRule(2, { rule_type: 'user" ; flush ruleset ; "' }) },
      ];
      for (const data of payloads) {
        const r = await fw.call("firewall", data);
        expect(r.exitCode).toBe(1);
        expect(r.result).toMatch(/Validation failed|chain_name|rule\[/);
        expect(await ruleset(lab, backend)).toBe(before);
      }
      expect((await lab.exec(["nft", "list", "tables"])).output).not.toContain("pwned");
    });

    test("two concurrent batches are serialised and both land", async () => {
      const lab = await newLab();
      const fw = makeFirewall(lab.runProcess, tempDir(), backend);
      const batch = (sg: string, from: number) =>
        fw.call("firewall", { chain_name: sg, operation: "batch", rules: [0, 1, 2].map((i) => wireRule(from + i)) });
      const [x, y] = await Promise.all([batch("sga", 10), batch("sgb", 20)]);
      expect([x.exitCode, y.exitCode]).toEqual([0, 0]);
      const state = await fw.service.read();
      expect(typeof state !== "string" && state.map((g) => [g.name, g.rules.map((r) => r.portStart)])).toEqual([
        ["sga", [8010, 8011, 8012]],
        ["sgb", [8020, 8021, 8022]],
      ]);
      expect(fw.service.backups.count()).toBe(2);
    });

    test("rollback after a restart uses the persisted snapshot (0700 dir, 0600 files)", async () => {
      const lab = await newLab();
      const dir = tempDir();
      await seedForeign(lab);
      const empty = await ruleset(lab, backend);
      const first = makeFirewall(lab.runProcess, dir, backend);
      expect((await first.call("firewall", { chain_name: "sg-web", operation: "add", ...wireRule(1) })).exitCode).toBe(0);
      const afterOne = await ruleset(lab, backend);
      expect((await first.call("firewall", { chain_name: "sg-web", operation: "add", ...wireRule(2) })).exitCode).toBe(0);
      const fwDir = join(dir, "firewall");
      expect(statSync(fwDir).mode & 0o777).toBe(0o700);
      for (const f of readdirSync(fwDir)) expect(statSync(join(fwDir, f)).mode & 0o777).toBe(0o600);
      // A new service (as after an agent restart) has no memory, only the files.
      const second = makeFirewall(lab.runProcess, dir, backend);
      expect((await second.call("firewall-rollback", {})).result).toBe("Firewall rules rolled back successfully");
      expect(await ruleset(lab, backend)).toBe(afterOne);
      expect((await second.call("firewall-rollback", { operation: "restore" })).exitCode).toBe(0);
      expect(await ruleset(lab, backend)).toBe(empty);
      expect(await second.call("firewall-rollback", {})).toEqual({ exitCode: 1, result: "No backup available for rollback" });
    });

    test("restore, reorder and the later command names", async () => {
      const lab = await newLab();
      const fw = makeFirewall(lab.runProcess, tempDir(), backend);
      const restore = await fw.call("firewall-rollback", { chain_name: "web", operation: "restore", rules: [wireRule(1), wireRule(2)] });
      expect(restore.result).toBe("firewall-rollback: Successfully restored 2 rules");
      const apply = await fw.call("firewall-batch-apply", {
        security_group_name: "db",
        rules: [wireRule(3), wireRule(4, { port_start: "x" })],
      });
      expect(JSON.parse(apply.result).failed_rules).toEqual([
        { rule: "rule[1]", error: "port_start: must be a port number from 1 to 65535" },
      ]);
      expect((await fw.call("firewall-batch-apply", { security_group_name: "db", rules: [wireRule(3)] })).exitCode).toBe(0);
      const chains = await fw.call("firewall-reorder-chains", { chain_names: ["db", "web"] });
      expect(JSON.parse(chains.result)).toEqual({
        success: true,
        reordered_count: 2,
        deleted_rules: 0,
        message: "Successfully reordered 2 chains",
      });
      const rules = await fw.call("firewall-reorder-rules", { chain_name: "web", rules: [{ rule_id: ID(2) }, { rule_id: ID(1) }] });
      expect(JSON.parse(rules.result).message).toBe("Successfully reordered 2 rules in chain 'web'");
      const r = await fw.call("firewall-rules", { action: "delete_rule", chain_name: "web", rule: { rule_id: ID(1) } });
      expect(JSON.parse(r.result)).toEqual({ success: true, message: "Rule deleted successfully" });
      const state = await fw.service.read();
      expect(typeof state !== "string" && state.map((g) => [g.name, g.rules.map((x) => x.ruleId)])).toEqual([
        ["db", [ID(3)]],
        ["web", [ID(2)]],
      ]);
      const status = JSON.parse((await fw.call("firewall-status", {})).result);
      expect(status.kind).toBe(backend);
      expect(status.rules).toBe(2);
    });
  });
}

describe.skipIf(skip)("the host", () => {
  test("its ruleset is byte-identical to the start of this file and no namespace of ours is left", async () => {
    for (const lab of labs.splice(0)) await lab.destroy();
    expect(hostBefore).not.toBe("");
    expect(await hostSnapshot()).toBe(hostBefore);
    expect((await sh(["ip", "netns", "list"])).output).not.toContain(`alp-fw`);
  });
});
