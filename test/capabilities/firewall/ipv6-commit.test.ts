// iptables keeps IPv4 and IPv6 in two kernel transactions. When the IPv6 commit fails after the IPv4 one
// went in, the IPv4 tables must be put back exactly. In a private namespace, only `ip6tables-restore`'s commit
// is made to fail: a stand-in earlier in the PATH the agent's firewall code runs its tools with (the code
// names the tool, `ip netns exec` finds it through PATH); its `--test` check runs the real tool against the
// kernel, and at the commit it records the namespace's IPv4 table (proof the IPv4 commit happened first)
// and fails. Every other call is the real tool in the namespace. The host ruleset must not change.
import { afterAll, afterEach, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { RunOptions } from "../../../src/exec/types.ts";
import { useTempDirs } from "../../helpers/tmp.ts";
import { ID, makeFirewall, wireRule } from "./harness.ts";
import { Lab, canUseNetns, hostSnapshot, sh } from "./netns.ts";

const tempDir = useTempDirs("alpamon-fw6-");
const labs: Lab[] = [];
let hostBefore = "";

beforeAll(async () => {
  if (canUseNetns) hostBefore = await hostSnapshot();
});
afterEach(async () => {
  for (const lab of labs.splice(0)) await lab.destroy();
});
afterAll(async () => {
  if (!canUseNetns) return;
  expect(await hostSnapshot()).toBe(hostBefore);
  expect((await sh(["ip", "netns", "list"])).output).not.toContain(`alp-fwa-${process.pid.toString(36)}`);
});

const which = (tool: string) => Bun.spawnSync(["which", tool]).stdout.toString().trim();
const hasLegacy = which("iptables-legacy") !== "";

/** A directory holding a stand-in `ip6tables[-legacy]-restore` whose commit fails; `--test` runs the real one. */
function failingIp6Restore(dir: string, legacy: boolean): { bin: string; seen: string } {
  const name = legacy ? "ip6tables-legacy-restore" : "ip6tables-restore";
  const real = which(name);
  if (!real) throw new Error(`${name} is not installed`);
  const bin = join(dir, "bin");
  const seen = join(dir, "ipv4-at-ipv6-commit");
  mkdirSync(bin);
  const script = [
    "#!/bin/sh",
    `for a in "$@"; do [ "$a" = --test ] && exec ${real} "$@"; done`,
    "cat >/dev/null",
    `${legacy ? "iptables-legacy-save" : "iptables-save"} -t filter > ${seen}`,
    `echo "${name}: line 2 failed" >&2`,
    "exit 1",
  ].join("\n");
  writeFileSync(join(bin, name), `${script}\n`);
  chmodSync(join(bin, name), 0o755);
  return { bin, seen };
}

/** A stand-in `iptables[-legacy]-restore` whose second commit (the rollback) fails; the rest is the real tool. */
function failingIp4Rollback(bin: string, dir: string, legacy: boolean): void {
  const name = legacy ? "iptables-legacy-restore" : "iptables-restore";
  const real = which(name);
  const count = join(dir, "ipv4-commits");
  const script = [
    "#!/bin/sh",
    `for a in "$@"; do [ "$a" = --test ] && exec ${real} "$@"; done`,
    `echo x >> ${count}`,
    `[ "$(wc -l < ${count})" -ge 2 ] && { cat >/dev/null; echo "${name}: rollback refused" >&2; exit 1; }`,
    `exec ${real} "$@"`,
  ].join("\n");
  writeFileSync(join(bin, name), `${script}\n`);
  chmodSync(join(bin, name), 0o755);
}

/** iptables-save / ip6tables-save of the namespace, minus the `# Generated … on <date>` comment lines. */
async function saved(lab: Lab, tool: "iptables-save" | "ip6tables-save"): Promise<string> {
  const r = await lab.exec([tool]);
  expect(r.exitCode).toBe(0);
  return r.output
    .split("\n")
    .filter((l) => !l.startsWith("#"))
    .join("\n");
}

/** Foreign objects as on a real host, in both families. */
async function seedForeign(lab: Lab): Promise<void> {
  for (const argv of [
    ["iptables", "-N", "DOCKER-USER"],
    ["iptables", "-A", "DOCKER-USER", "-j", "RETURN"],
    ["iptables", "-A", "INPUT", "-i", "lo", "-j", "ACCEPT"],
    ["ip6tables", "-A", "INPUT", "-i", "lo", "-j", "ACCEPT"],
    ["iptables", "-P", "OUTPUT", "ACCEPT"],
    ["iptables", "-P", "FORWARD", "ACCEPT"],
    ["ip6tables", "-P", "OUTPUT", "ACCEPT"],
    ["ip6tables", "-P", "FORWARD", "ACCEPT"],
  ]) {
    expect((await lab.exec(argv)).exitCode).toBe(0);
  }
}

const flavours = [false, ...(hasLegacy ? [true] : [])];

for (const legacy of flavours) {
  describe.skipIf(!canUseNetns)(`iptables${legacy ? " (legacy)" : " (nf_tables)"}: the IPv6 commit fails after the IPv4 one`, () => {
    async function setup(existing: boolean, rollbackFails = false) {
      const lab = await Lab.create({ legacy });
      labs.push(lab);
      await seedForeign(lab);
      const dir = tempDir();
      if (existing) {
        // An agent group already in both families, so the rollback must rebuild it, not just delete.
        const fw0 = makeFirewall(lab.runProcess, dir, "iptables");
        const r = await fw0.call("firewall", {
          chain_name: "sg-web",
          operation: "batch",
          rules: [wireRule(1), wireRule(5, { source: "10.5.0.0/16", target: "DROP" })],
        });
        expect(r.exitCode).toBe(0);
      }
      const stubDir = tempDir();
      const stub = failingIp6Restore(stubDir, legacy);
      if (rollbackFails) failingIp4Rollback(stub.bin, stubDir, legacy);
      const failing = (o: RunOptions) => lab.runProcess({ ...o, env: { ...o.env, PATH: `${stub.bin}:${o.env?.PATH ?? ""}` } });
      const fw = makeFirewall(failing, dir, "iptables");
      return { lab, fw, seen: stub.seen };
    }

    test("when the IPv4 rollback fails too, the fin says so instead of 'unchanged', and the backup is kept", async () => {
      const { fw } = await setup(true, true);
      const rules = [wireRule(2), wireRule(3, { source: "10.3.0.0/16" })];
      const r = await fw.call("firewall", { chain_name: "sg-web", operation: "batch", rules });
      const body = JSON.parse(r.result);
      expect(r.exitCode).toBe(1);
      expect({ success: body.success, rolled_back: body.rolled_back, rollback_reason: body.rollback_reason }).toEqual({
        success: false,
        rolled_back: false,
        rollback_reason: "Rolling back failed",
      });
      expect(body.message).not.toContain("unchanged");
      expect(JSON.stringify(body.failed_rules)).toContain("rollback refused");
      expect(fw.service.backups.count()).toBe(2); // the earlier group's and this change's: the way back
    });

    for (const existing of [true, false]) {
      test(`the IPv4 tables are byte-identical to before (${existing ? "with an existing agent group" : "from no agent objects"})`, async () => {
        const { lab, fw, seen } = await setup(existing);
        const before4 = await saved(lab, "iptables-save");
        const before6 = await saved(lab, "ip6tables-save");
        expect(before4.includes("ALPACON")).toBe(existing);

        const rules = [
          wireRule(2),
          wireRule(3, { source: "10.3.0.0/16" }),
          wireRule(4, { source: "2001:db8::/32" }),
          wireRule(1, { port_start: 9001 }),
        ];
        const r = await fw.call("firewall", { chain_name: "sg-web", operation: "batch", rules });
        const body = JSON.parse(r.result);
        expect(r.exitCode).toBe(1);
        expect({ success: body.success, rolled_back: body.rolled_back }).toEqual({ success: false, rolled_back: true });
        expect(JSON.stringify(body.failed_rules)).toContain("line 2 failed");

        // Not vacuous: the IPv6 commit was reached, and by then the IPv4 commit had changed the kernel.
        expect(existsSync(seen)).toBe(true);
        const during = readFileSync(seen, "utf8");
        expect(during).toContain(`rule_id:${ID(3)}`);
        expect(during).toContain("--dport 9001");

        expect(await saved(lab, "iptables-save")).toBe(before4);
        expect(await saved(lab, "ip6tables-save")).toBe(before6);
        expect(fw.service.backups.count()).toBe(existing ? 1 : 0); // the failed change left no snapshot of its own
      });
    }
  });
}
