// The inventory helper: `alpamon inventory-collect <what>` (hidden), which the agent starts as root through
// exec/ for every collection (collect-process.ts). It runs the collectors named in <what> (snapshot keys, and
// `firewall` for the agent's own firewall chains), then prints one line of JSON on stdout and exits:
// `{"snapshot":{...},"firewall":[...],"logs":[{"level","message","fields"}]}`. Nothing else is written to stdout;
// what the collectors log is carried in `logs` for the agent to write to its own log.
// Exit codes: 0 with the line (a collector that failed is left out of `snapshot` and logged), 2 for a bad <what>.
import type { Fields, Level, Logger } from "../../log/logger.ts";
import { collectSnapshot } from "./collect.ts";
import type { CollectorEnv } from "./collectors/env.ts";
import { FIREWALL_PART, type HelperLog, type HelperOutput } from "./collect-process.ts";
import { SNAPSHOT_KEYS, type SnapshotKey } from "./types.ts";

export interface CollectMainDeps {
  /** The collectors' view of the system (the real one in the helper). */
  env: CollectorEnv;
  /** The agent's firewall chains, read the way the firewall capability reads them. */
  firewallChains: (log: Logger) => Promise<unknown[]>;
  write: (text: string) => void;
  complain: (text: string) => void;
}

/** A logger that keeps every record (errors as their message) for the output line. */
function keepingLogger(logs: HelperLog[], component?: string): Logger {
  const keep =
    (level: Level) =>
    (message: string, fields: Fields = {}) => {
      const plain: Fields = {};
      for (const [k, v] of Object.entries(fields)) plain[k] = v instanceof Error ? v.message : v;
      if (component !== undefined) plain.component = component;
      logs.push({ level, message, fields: plain });
    };
  return {
    debug: keep("debug"),
    info: keep("info"),
    warn: keep("warn"),
    error: keep("error"),
    child: (name) => keepingLogger(logs, name),
  };
}

/** Parses <what> (comma-separated, no repeats): the snapshot keys and whether the firewall was asked for. */
export function parseWhat(what: string): { keys: SnapshotKey[]; firewall: boolean } | { error: string } {
  const parts = what.split(",");
  const keys: SnapshotKey[] = [];
  let firewall = false;
  for (const part of parts) {
    if (part === FIREWALL_PART && !firewall) firewall = true;
    else if ((SNAPSHOT_KEYS as readonly string[]).includes(part) && !keys.includes(part as SnapshotKey)) keys.push(part as SnapshotKey);
    else
      return {
        error: `not a key to collect (or named twice): ${JSON.stringify(part)}; known: ${[...SNAPSHOT_KEYS, FIREWALL_PART].join(", ")}`,
      };
  }
  return { keys, firewall };
}

export async function runInventoryCollect(what: string, deps: CollectMainDeps): Promise<number> {
  const parsed = parseWhat(what);
  if ("error" in parsed) {
    deps.complain(`alpamon inventory-collect: ${parsed.error}\n`);
    return 2;
  }
  const logs: HelperLog[] = [];
  const log = keepingLogger(logs);
  const output: HelperOutput = { snapshot: {}, logs };
  if (parsed.keys.length > 0) output.snapshot = await collectSnapshot(deps.env, log, parsed.keys);
  if (parsed.firewall) output.firewall = await deps.firewallChains(log);
  deps.write(`${JSON.stringify(output)}\n`);
  return 0;
}
