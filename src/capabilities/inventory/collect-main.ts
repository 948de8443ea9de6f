// The inventory helper: `alpamon inventory-collect <what>` (hidden), which the agent starts as root through
// exec/ for every collection (collect-process.ts). It runs the collectors named in <what> (snapshot keys, and
// `firewall` for the agent's own firewall chains), then prints one line of JSON on stdout and exits:
// `{"snapshot":{...},"firewall":[...],"logs":[{"level","message","fields"}]}`. Nothing else is written to stdout;
// what the collectors log is carried in `logs` for the agent to write to its own log.
// `alpamon inventory-collect commit-<form> --agent-version V` builds the agent's full commit here instead
// (commit.ts, `buildCommit`; for the older form with packages and the firewall chains): the commit body, its 2024
// form and, when there are chains, the firewall sync body, each as one line of JSON text, then the answer line,
// whose `commit` names those lines in order. The agent stores and sends the text as it is: the snapshot's objects
// and the body's construction stay out of the long-lived process.
// Exit codes: 0 with the line (a collector that failed is left out of `snapshot` and logged), 2 for a bad <what>.
import type { Fields, Level, Logger } from "../../log/logger.ts";
import { collectSnapshot } from "./collect.ts";
import { readHostFacts } from "./collectors/pam.ts";
import type { CollectorEnv } from "./collectors/env.ts";
import { buildCommit, COMMIT_FORMS, type CommitForm } from "./commit.ts";
import { COMMIT_PART_PREFIX, FIREWALL_PART, type HelperLog, type HelperOutput } from "./collect-process.ts";
import { SNAPSHOT_KEYS, type SnapshotKey } from "./types.ts";

export interface CollectMainDeps {
  /** The collectors' view of the system (the real one in the helper). */
  env: CollectorEnv;
  /** The agent's firewall chains, read the way the firewall capability reads them. */
  firewallChains: (log: Logger) => Promise<unknown[]>;
  write: (text: string) => void;
  complain: (text: string) => void;
  /** The agent's version, which a commit reports (the helper may be a binary upgraded on disk since). */
  agentVersion?: string;
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
        error: `not a key to collect (or named twice): ${JSON.stringify(part)}; known: ${[...SNAPSHOT_KEYS, FIREWALL_PART].join(", ")}, or alone ${COMMIT_FORMS.map((f) => COMMIT_PART_PREFIX + f).join(", ")}`,
      };
  }
  return { keys, firewall };
}

/** The commit form <what> asks for (`commit-2026`, `commit-older`), or undefined when it asks for keys. */
function commitForm(what: string): CommitForm | undefined {
  if (!what.startsWith(COMMIT_PART_PREFIX)) return undefined;
  const form = what.slice(COMMIT_PART_PREFIX.length);
  return (COMMIT_FORMS as readonly string[]).includes(form) ? (form as CommitForm) : undefined;
}

/** The commit mode: collects what the form needs, adds the agent's version and host facts, prints the text. */
async function runCommit(form: CommitForm, version: string, deps: CollectMainDeps): Promise<number> {
  const logs: HelperLog[] = [];
  const log = keepingLogger(logs);
  const keys = form === "2026" ? SNAPSHOT_KEYS.filter((k) => k !== "packages") : SNAPSHOT_KEYS;
  const [snapshot, facts] = await Promise.all([collectSnapshot(deps.env, log, keys), readHostFacts(deps.env)]);
  if (snapshot.server) Object.assign(snapshot.server, { version }, facts);
  let chains: unknown[] | undefined;
  if (form === "older") {
    try {
      chains = await deps.firewallChains(log);
    } catch (err) {
      log.warn("could not collect firewall rules; firewall sync skipped", { error: err });
    }
  }
  const commit = buildCommit(snapshot, version, form, chains);
  const lines = [commit.body, commit.legacyBody, ...(commit.firewall === undefined ? [] : [commit.firewall])];
  const output: HelperOutput = {
    snapshot: {},
    logs,
    commit: { keys: commit.keys, packages: commit.packages, lines: commit.firewall === undefined ? 2 : 3 },
  };
  deps.write(`${lines.join("\n")}\n${JSON.stringify(output)}\n`);
  return 0;
}

export async function runInventoryCollect(what: string, deps: CollectMainDeps): Promise<number> {
  const form = commitForm(what);
  if (form !== undefined) {
    if (!deps.agentVersion) {
      deps.complain("alpamon inventory-collect: a commit needs --agent-version\n");
      return 2;
    }
    return runCommit(form, deps.agentVersion, deps);
  }
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
