// Firewall rule data: the injection corpus in every validated field is refused with a message naming the
// field and starts no firewall tool; then the seeded fuzz (short form here, long form under `bun run fuzz`).
import { afterAll, describe, expect, test } from "bun:test";
import { createFirewall } from "../../src/capabilities/firewall/index.ts";
import { invoke } from "../../src/commands/contract.ts";
import { silentLogger } from "../../src/log/logger.ts";
import { ManualClock } from "../../src/platform/clock.ts";
import { failed, fakeHost, fuzzFirewall, INJECTIONS, isApply, MARKER } from "./firewall.ts";
import { LONG, SEED } from "./rand.ts";
import { fuzzDataDir, removeFuzzDataDir } from "./data-dir.ts";

afterAll(removeFuzzDataDir);

const FIELDS = [
  "chain_name",
  "chain",
  "source",
  "destination",
  "rule_id",
  "rule_type",
  "protocol",
  "target",
  "icmp_type",
  "port_start",
  "dports",
  "method",
  "priority",
];

describe("firewall injection corpus", () => {
  for (const backend of ["nftables", "iptables"] as const) {
    test(`${backend}: each hostile value in each field is refused, named, and never reaches a process`, async () => {
      let checked = 0;
      for (const field of FIELDS) {
        for (const value of INJECTIONS) {
          const host = fakeHost(backend);
          const fw = createFirewall({
            runProcess: host.run,
            dataDir: fuzzDataDir(),
            clock: new ManualClock(),
            log: silentLogger,
            hasSystemd: () => false,
          });
          const data: Record<string, unknown> = {
            chain_name: "sg-web",
            operation: "add",
            chain: "INPUT",
            protocol: "tcp",
            port_start: 22,
            target: "ACCEPT",
            rule_id: "00000001-0000-4000-8000-000000000000",
            [field]: value,
          };
          const handler = fw.commands.find((c) => c.name === "firewall")!;
          const r = await invoke("firewall", handler, {
            id: "c",
            args: [],
            line: "firewall",
            data,
            user: null,
            group: null,
            env: null,
            signal: new AbortController().signal,
            log: silentLogger,
          });
          const where = `${field}=${JSON.stringify(value)}: ${r.result}`;
          expect(failed(r), where).toBe(true);
          expect(r.result, where).toContain(field);
          expect(host.calls.filter(isApply), where).toEqual([]);
          expect(
            host.calls.some((c) => c.argv.join(" ").includes(MARKER)),
            where,
          ).toBe(false);
          checked++;
        }
      }
      expect(checked).toBe(FIELDS.length * INJECTIONS.length);
    });
  }

  test("an IPv6 source with iptables but no ip6tables is refused before any restore", async () => {
    const host = fakeHost("iptables");
    const fw = createFirewall({
      runProcess: host.run,
      dataDir: fuzzDataDir(),
      clock: new ManualClock(),
      log: silentLogger,
      hasSystemd: () => false,
    });
    const handler = fw.commands.find((c) => c.name === "firewall")!;
    const data = {
      chain_name: "sg-web",
      operation: "add",
      chain: "INPUT",
      protocol: "tcp",
      port_start: 22,
      target: "ACCEPT",
      source: "2001:db8::/32",
      rule_id: "00000001-0000-4000-8000-000000000000",
    };
    const r = await invoke("firewall", handler, {
      id: "c",
      args: [],
      line: "firewall",
      data,
      user: null,
      group: null,
      env: null,
      signal: new AbortController().signal,
      log: silentLogger,
    });
    expect(failed(r)).toBe(true);
    expect(r.result).toContain("IPv6 rules need ip6tables");
    expect(host.calls.filter(isApply)).toEqual([]);
  });
});

test(
  "firewall rule data fuzz",
  async () => {
    const stats = await fuzzFirewall(SEED, LONG ? 100_000 : 3_000);
    expect(stats.rejected).toBeGreaterThan(0);
    expect(stats.applied).toBeGreaterThan(0);
    expect(stats.hostile).toBeGreaterThan(stats.cases / 4);
  },
  LONG ? 1_800_000 : 20_000,
);
