// Backend detection: honours ufw, firewalld and SuSEfirewall2 (management is then refused), prefers nft,
// falls back to iptables (nf_tables or legacy flavour). Only looks; never installs or changes anything.
import type { RunResult } from "../../exec/types.ts";

export type Run = (argv: string[], stdin?: string) => Promise<RunResult>;

export type Detection =
  | { kind: "nftables"; version: string }
  | { kind: "iptables"; flavour: "nf_tables" | "legacy" | "unknown"; version: string; ipv6: boolean }
  | { kind: "blocked"; tool: string }
  | { kind: "none" };

const HIGH_LEVEL = [
  { tool: "ufw", unit: "ufw", argv: ["ufw", "status"], active: /status:\s*active/i },
  { tool: "firewalld", unit: "firewalld", argv: ["firewall-cmd", "--state"], active: /^running/m },
  { tool: "SuSEfirewall2", unit: "SuSEfirewall2", argv: undefined, active: undefined },
] as const;

export interface DetectOptions {
  run: Run;
  hasSystemd: boolean;
  /** Forces one backend (configuration or tests); it must still be installed. */
  prefer?: "nftables" | "iptables";
}

export async function detectFirewall(opts: DetectOptions): Promise<Detection> {
  const { run } = opts;
  for (const h of HIGH_LEVEL) {
    if (opts.hasSystemd) {
      const r = await run(["systemctl", "is-active", h.unit]);
      if (r.exitCode === 0 && r.output.trim() === "active") return { kind: "blocked", tool: h.tool };
    } else if (h.argv) {
      const r = await run([...h.argv]);
      if (r.exitCode === 0 && h.active.test(r.output)) return { kind: "blocked", tool: h.tool };
    }
  }
  if (opts.prefer !== "iptables") {
    const nft = await run(["nft", "--version"]);
    if (nft.exitCode === 0) return { kind: "nftables", version: nft.output.trim() };
    if (opts.prefer === "nftables") return { kind: "none" };
  }
  const ipt = await run(["iptables", "-V"]);
  if (ipt.exitCode !== 0) return { kind: "none" };
  const flavour = /\(nf_tables\)/.test(ipt.output) ? "nf_tables" : /\(legacy\)/.test(ipt.output) ? "legacy" : "unknown";
  const ip6 = await run(["ip6tables", "-V"]);
  return { kind: "iptables", flavour, version: ipt.output.trim(), ipv6: ip6.exitCode === 0 };
}
