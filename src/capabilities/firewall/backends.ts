// The two kernel backends behind one interface: read the agent's objects back, and apply a whole new
// state as one checked transaction fed through stdin (`nft -c` then `nft -f -`; `iptables-restore --test`
// then `--noflush`). They touch only `table inet alpacon` or the ALPACON-* chains and their jumps.
import type { Logger } from "../../log/logger.ts";
import type { Run } from "./detect.ts";
import { iptablesErrorLine, iptablesScript, mergeFamilies, parseIptablesSave, type ParsedSave } from "./iptables.ts";
import { ruleFamilies, type FirewallState } from "./model.ts";
import { nftErrorLine, nftScript, parseNftTable, NFT_TABLE, type RuleRef, type Script } from "./nft.ts";

/** `partial`: the change failed and could not be undone everywhere (one family keeps the new rules). */
export type ApplyResult = { ok: true } | { ok: false; error: string; rule?: RuleRef; partial?: true };

export interface Backend {
  name: "nftables" | "iptables";
  /** "nftables v1.0.6", "iptables v1.8.9 (nf_tables)": for status and logs. */
  version: string;
  read(): Promise<FirewallState>;
  apply(prev: FirewallState, next: FirewallState): Promise<ApplyResult>;
}

export class BackendError extends Error {}

const firstLines = (text: string) => text.trim().split("\n").slice(0, 3).join(" / ");

function failure(output: string, script: Script, lineOf: (o: string) => number | undefined): ApplyResult {
  const line = lineOf(output);
  const rule = line !== undefined ? script.lines.get(line) : undefined;
  return { ok: false, error: firstLines(output) || "the firewall tool failed", ...(rule ? { rule } : {}) };
}

export function nftBackend(run: Run, version: string, log: Logger): Backend {
  return {
    name: "nftables",
    version,
    async read() {
      const r = await run(["nft", "-j", "list", "table", "inet", NFT_TABLE]);
      if (r.exitCode !== 0) {
        if (/No such file or directory/.test(r.output)) return [];
        throw new BackendError(`nft list failed: ${firstLines(r.startError ?? r.output)}`);
      }
      return parseNftTable(r.output, (m) => log.warn(m));
    },
    async apply(_prev, next) {
      const script = nftScript(next);
      const checked = await run(["nft", "-c", "-f", "-"], script.text);
      if (checked.exitCode !== 0) return failure(checked.startError ?? checked.output, script, nftErrorLine);
      const applied = await run(["nft", "-f", "-"], script.text);
      if (applied.exitCode !== 0) return failure(applied.startError ?? applied.output, script, nftErrorLine);
      return { ok: true };
    },
  };
}

const TOOLS = {
  4: { save: "iptables-save", restore: "iptables-restore" },
  6: { save: "ip6tables-save", restore: "ip6tables-restore" },
} as const;

export function iptablesBackend(run: Run, version: string, ipv6: boolean, log: Logger): Backend {
  const save = async (family: 4 | 6): Promise<ParsedSave> => {
    const r = await run([TOOLS[family].save, "-t", "filter"]);
    if (r.exitCode !== 0) throw new BackendError(`${TOOLS[family].save} failed: ${firstLines(r.startError ?? r.output)}`);
    const parsed = parseIptablesSave(r.output);
    if (parsed.ignored) log.warn(`ignoring ${parsed.ignored} rule(s) in ALPACON chains the agent did not write`);
    return parsed;
  };
  const families = (): (4 | 6)[] => (ipv6 ? [4, 6] : [4]);
  return {
    name: "iptables",
    version,
    async read() {
      const [v4, v6] = await Promise.all(families().map(save));
      return mergeFamilies(v4!.state, v6?.state ?? []);
    },
    async apply(prev, next) {
      if (!ipv6 && next.some((g) => g.rules.some((r) => ruleFamilies(r).length === 1 && ruleFamilies(r)[0] === 6))) {
        return { ok: false, error: "IPv6 rules need ip6tables, which is not installed" };
      }
      const scripts = new Map<4 | 6, Script>();
      for (const family of families()) {
        const script = iptablesScript(next, family, (await save(family)).present);
        if (!script) continue;
        const checked = await run([TOOLS[family].restore, "--test", "--noflush"], script.text);
        if (checked.exitCode !== 0) return failure(checked.startError ?? checked.output, script, iptablesErrorLine);
        scripts.set(family, script);
      }
      const done: (4 | 6)[] = [];
      for (const [family, script] of scripts) {
        const applied = await run([TOOLS[family].restore, "--noflush"], script.text);
        if (applied.exitCode !== 0) {
          // IPv4 and IPv6 are two kernel transactions: put back the family already changed.
          const notRestored: string[] = [];
          for (const f of done) {
            const back = iptablesScript(prev, f, (await save(f)).present);
            const undone = back ? await run([TOOLS[f].restore, "--noflush"], back.text) : undefined;
            if (undone && undone.exitCode !== 0) notRestored.push(`IPv${f}: ${firstLines(undone.startError ?? undone.output)}`);
          }
          const result = failure(applied.startError ?? applied.output, script, iptablesErrorLine);
          if (notRestored.length === 0 || result.ok) return result;
          // Never report "nothing changed" when a family could not be put back.
          log.error("the firewall could not be rolled back; the other family keeps the new rules", { problem: notRestored.join("; ") });
          return { ...result, partial: true, error: `${result.error}; rolling back failed too (${notRestored.join("; ")})` };
        }
        done.push(family);
      }
      return { ok: true };
    },
  };
}
