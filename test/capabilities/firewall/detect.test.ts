// Backend detection and gating with a recording runProcess: ufw/firewalld block management with the
// documented message, nft is preferred, iptables is the fallback, nothing is ever installed, and a
// rejected command starts no firewall tool at all.
import { describe, expect, test } from "bun:test";
import type { RunOptions, RunResult } from "../../../src/exec/types.ts";
import { useTempDirs } from "../../helpers/tmp.ts";
import { makeFirewall, wireRule } from "./harness.ts";

const tempDir = useTempDirs("alpamon-fwd-");
const res = (exitCode: number, output = ""): RunResult => ({ exitCode, output, omittedBytes: 0, timedOut: false });
const missing: RunResult = { exitCode: -1, output: "", omittedBytes: 0, timedOut: false, startError: "command not found" };

function recorder(answers: Record<string, RunResult>) {
  const calls: RunOptions[] = [];
  const run = async (o: RunOptions) => {
    calls.push(o);
    return answers[o.argv.join(" ")] ?? missing;
  };
  return { calls, run };
}

describe("detection", () => {
  test("an active ufw disables management with the documented message", async () => {
    const { calls, run } = recorder({ "ufw status": res(0, "Status: active\n"), "nft --version": res(0, "nftables v1.0.6") });
    const fw = makeFirewall(run, tempDir());
    const r = await fw.call("firewall", { chain_name: "sg", operation: "add", ...wireRule(1) });
    expect(r).toEqual({
      exitCode: 1,
      result: "Alpacon firewall management is disabled because ufw is active. Please use ufw to manage firewall rules.",
    });
    expect(calls.some((c) => c.argv[0] === "nft" && c.argv[1] !== "--version")).toBe(false);
    expect(await fw.collectFirewallChains()).toEqual([]);
  });

  test("firewalld running is detected the same way", async () => {
    const { run } = recorder({ "firewall-cmd --state": res(0, "running\n"), "nft --version": res(0, "nftables v1.0.6") });
    const r = await makeFirewall(run, tempDir()).call("firewall", { chain_name: "sg", operation: "flush" });
    expect(r.result).toContain("because firewalld is active");
  });

  test("no tools: a clear message, and nothing is installed", async () => {
    const { calls, run } = recorder({});
    const r = await makeFirewall(run, tempDir()).call("firewall", { chain_name: "sg", operation: "flush" });
    expect(r).toEqual({ exitCode: 1, result: "Firewall functionality is not available - no backend detected" });
    expect(calls.map((c) => c.argv[0])).not.toContain("apt-get");
    expect(calls.map((c) => c.argv[0])).not.toContain("yum");
  });

  test("nft preferred; iptables (with its flavour) when nft is missing", async () => {
    const both = recorder({ "nft --version": res(0, "nftables v1.0.6"), "iptables -V": res(0, "iptables v1.8.9 (legacy)") });
    expect((await makeFirewall(both.run, tempDir()).service.detect()).kind).toBe("nftables");
    const only = recorder({ "iptables -V": res(0, "iptables v1.8.9 (legacy)"), "ip6tables -V": res(0, "ip6tables v1.8.9 (legacy)") });
    expect(await makeFirewall(only.run, tempDir()).service.detect()).toEqual({
      kind: "iptables",
      flavour: "legacy",
      version: "iptables v1.8.9 (legacy)",
      ipv6: true,
    });
  });
});

describe("a rejected command runs nothing", () => {
  test("bad fields: exit 1, the field named, no tool started", async () => {
    const { calls, run } = recorder({ "nft --version": res(0, "nftables v1.0.6") });
    const fw = makeFirewall(run, tempDir());
    const cases: [Record<string, unknown>, string][] = [
      [{ operation: "add" }, "firewall: chain_name is required"],
      [{ chain_name: "sg" }, "firewall: operation is required"],
      [{ chain_name: "sg", operation: "nuke" }, "firewall: Unknown operation 'nuke'. Supported: batch, flush, delete, add, update"],
      [
        { chain_name: "sg", operation: "add", ...wireRule(1, { port_start: 0, dports: ["80", "x"] }) },
        "firewall add: Validation failed. dports: item 1 must be a port number from 1 to 65535",
      ],
      [{ chain_name: "sg", operation: "delete" }, "firewall delete: rule_id is required for delete operation"],
      [
        { chain_name: "sg", operation: "update", rules: [wireRule(1), wireRule(2)] },
        "firewall update: only one rule can be updated at a time",
      ],
    ];
    for (const [data, message] of cases) expect(await fw.call("firewall", data)).toEqual({ exitCode: 1, result: message });
    const batch = await fw.call("firewall", {
      chain_name: "sg",
      operation: "batch",
      rules: [wireRule(1), wireRule(2, { source: "evil.example" })],
    });
    expect(batch.exitCode).toBe(1);
    expect(JSON.parse(batch.result).failed_rules).toEqual(["rule[1]: source: must be an IPv4 or IPv6 address or CIDR (no host names)"]);
    expect(calls.filter((c) => !c.argv.includes("--version") && !c.argv.includes("status") && !c.argv.includes("--state"))).toEqual([]);
    expect(await fw.call("firewall-rollback", { operation: "explode" })).toEqual({
      exitCode: 1,
      result: "firewall-rollback: Unknown action 'explode', use 'flush', 'restore', or 'delete'",
    });
  });
});

describe("backups", () => {
  test("a backup that cannot be written stops the change before any tool runs", async () => {
    const { calls, run } = recorder({
      "nft --version": res(0, "nftables v1.0.6"),
      "nft -j list table inet alpacon": res(1, "Error: No such file or directory"),
    });
    const dir = tempDir();
    await Bun.write(`${dir}/firewall`, "a file where the backup directory should be");
    const r = await makeFirewall(run, dir).call("firewall", { chain_name: "sg", operation: "add", ...wireRule(1) });
    expect(r.exitCode).toBe(1);
    expect(r.result).toContain("cannot save the firewall backup");
    expect(calls.some((c) => c.stdin !== undefined)).toBe(false);
  });
});
