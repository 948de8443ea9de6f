// The agent's side of the inventory helper (collect-main.ts): each collection runs in a process of its own,
// the agent's binary started as root through exec/ (`alpamon inventory-collect <what>`), and only its one line
// of JSON comes back (for a full commit, the commit's text before it, which the agent never parses). The
// collectors' code, the package and account lists they parse and the garbage they leave never enter the
// long-lived agent: measured, about 1.7 MB of the idle agent's RssAnon was what one start-up commit and
// firewall sync left behind, far more than the code itself (BENCHMARKS.md, "Round 4").
// The helper is the agent's own tool: it runs without an identity switch, with a fixed environment, bounded
// in time and output; whatever it fails at is an error here, which the inventory treats as keys not collected.
import type { RunProcess } from "../../exec/types.ts";
import type { Fields, Level, Logger } from "../../log/logger.ts";
import { TOOL_ENV } from "./collectors/env.ts";
import type { CommitForm, CommitText } from "./commit.ts";
import type { Snapshot, SnapshotKey } from "./types.ts";

export const COLLECT_SUBCOMMAND = "inventory-collect";
/** The part of <what> that asks for the agent's firewall chains. */
export const FIREWALL_PART = "firewall";
/** <what> for a whole commit built in the helper: `commit-2026` or `commit-older` (collect-main.ts). */
export const COMMIT_PART_PREFIX = "commit-";
/** A whole collection (packages and accounts included) takes about a second; getent alone is given 30. */
export const HELPER_TIMEOUT_MS = 60_000;
/** The largest answer read: a host with tens of thousands of users or packages fits well within it. */
export const HELPER_MAX_OUTPUT_BYTES = 64 << 20;
const LEVELS: readonly Level[] = ["debug", "info", "warn", "error"];

export interface HelperLog {
  level: Level;
  message: string;
  fields: Fields;
}

/** The helper's output line. */
export interface HelperOutput {
  snapshot: Partial<Snapshot>;
  firewall?: unknown[];
  logs: HelperLog[];
  /**
   * In the commit mode: the body's key count, its packages, and how many lines of JSON text come right before
   * this one (the body, its 2024 form, and the firewall sync's body when there is one).
   */
  commit?: { keys: number; packages: number; lines: number };
}

export interface HelperDeps {
  runProcess: RunProcess;
  /** argv that runs this program with the given arguments (selfArgv in the agent). */
  argv: (args: string[]) => string[];
  log: Logger;
  /** The agent's data directory, handed to the helper's firewall as the agent's own is built. */
  dataDir: string;
  timeoutMs?: number;
  maxOutputBytes?: number;
}

export interface InventoryHelper {
  /** The keys asked for that were collected; `signal` stops the helper (the agent is stopping). */
  collect(keys: readonly SnapshotKey[], signal?: AbortSignal): Promise<Partial<Snapshot>>;
  firewallChains(signal?: AbortSignal): Promise<unknown[]>;
  /** The full commit, built in the helper as text (the agent's `version` in it). */
  commitText(form: CommitForm, version: string, signal?: AbortSignal): Promise<CommitText>;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** The last `count` lines of a text, in order, without copying the rest (an answer may be megabytes). */
function lastLines(text: string, count: number): string[] {
  const lines: string[] = [];
  let end = text.length;
  while (end > 0 && /\s/.test(text[end - 1]!)) end--;
  while (lines.length < count && end > 0) {
    const start = text.lastIndexOf("\n", end - 1) + 1;
    lines.unshift(text.slice(start, end));
    end = start - 1;
  }
  return lines;
}

function lastLine(text: string): string {
  return lastLines(text, 1)[0] ?? "";
}

/** JSON text of an object, checked by its ends only: parsing it here is what the commit mode saves the agent. */
function isObjectText(line: string): boolean {
  return line.startsWith("{") && line.endsWith("}");
}

/**
 * The commit mode's answer: the lines before the answer line, as its `commit` names them; throws naming what is
 * missing or malformed.
 */
export function readCommitOutput(output: string): { answer: HelperOutput; commit: CommitText } {
  const answer = readHelperOutput(output);
  const meta = answer.commit as unknown;
  if (!isRecord(meta) || !Number.isSafeInteger(meta.keys) || !Number.isSafeInteger(meta.packages) || (meta.lines !== 2 && meta.lines !== 3))
    throw new Error("the inventory helper's answer lacks the commit's keys, packages or lines (2 or 3)");
  const lines = lastLines(output, meta.lines + 1).slice(0, -1);
  if (lines.length !== meta.lines || !lines.every(isObjectText))
    throw new Error(`the inventory helper's commit is not ${meta.lines} lines of JSON objects before its answer`);
  const [body, legacyBody, firewall] = lines as [string, string, string | undefined];
  const commit: CommitText = { body, legacyBody, keys: meta.keys as number, packages: meta.packages as number };
  if (firewall !== undefined) commit.firewall = firewall;
  return { answer, commit };
}

/** The last line of the output as the helper's answer; throws naming what was wrong. */
export function readHelperOutput(output: string): HelperOutput {
  const line = lastLine(output);
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw new Error(`the inventory helper's answer is not JSON: ${JSON.stringify(line.slice(0, 200))}`);
  }
  if (!isRecord(value) || !isRecord(value.snapshot) || !Array.isArray(value.logs)) {
    throw new Error("the inventory helper's answer lacks snapshot or logs");
  }
  if (value.firewall !== undefined && !Array.isArray(value.firewall)) throw new Error("the inventory helper's firewall is not a list");
  return value as unknown as HelperOutput;
}

export function inventoryHelper(deps: HelperDeps): InventoryHelper {
  const timeoutMs = deps.timeoutMs ?? HELPER_TIMEOUT_MS;
  const maxOutputBytes = deps.maxOutputBytes ?? HELPER_MAX_OUTPUT_BYTES;
  /** Runs the helper and returns its whole output once it exited cleanly; every other end is an error. */
  const run = async (what: string, signal: AbortSignal | undefined, extra: string[] = []): Promise<string> => {
    if (signal?.aborted) throw new Error("the inventory helper was not started: the inventory is stopping");
    const result = await deps.runProcess({
      argv: deps.argv([COLLECT_SUBCOMMAND, what, "--data-dir", deps.dataDir, ...extra]),
      env: TOOL_ENV,
      timeoutMs,
      maxOutputBytes,
      ...(signal ? { signal } : {}),
    });
    if (signal?.aborted) throw new Error("the inventory helper was stopped: the inventory is stopping");
    if (result.startError) throw new Error(`the inventory helper could not start: ${result.startError}`);
    if (result.timedOut) throw new Error(`the inventory helper did not finish within ${timeoutMs / 1000} s`);
    if (result.omittedBytes > 0) throw new Error(`the inventory helper's answer is larger than ${maxOutputBytes} bytes`);
    if (result.exitCode !== 0) {
      throw new Error(`the inventory helper exited with ${result.signal ?? result.exitCode}: ${lastLine(result.output).slice(0, 500)}`);
    }
    return result.output;
  };
  /** Writes what the helper logged to the agent's log. */
  const replay = (answer: HelperOutput): HelperOutput => {
    for (const entry of answer.logs) {
      if (!isRecord(entry) || typeof entry.message !== "string") continue;
      const level = LEVELS.includes(entry.level) ? entry.level : "warn";
      deps.log[level](entry.message, isRecord(entry.fields) ? entry.fields : {});
    }
    return answer;
  };
  return {
    async collect(keys, signal) {
      if (keys.length === 0) return {};
      const { snapshot } = replay(readHelperOutput(await run(keys.join(","), signal)));
      // Only what was asked for: a key the helper added is not this collection's.
      const wanted: Partial<Snapshot> = {};
      for (const key of keys) if (Object.hasOwn(snapshot, key)) (wanted as Record<string, unknown>)[key] = snapshot[key];
      return wanted;
    },
    async firewallChains(signal) {
      return replay(readHelperOutput(await run(FIREWALL_PART, signal))).firewall ?? [];
    },
    async commitText(form, version, signal) {
      const { answer, commit } = readCommitOutput(await run(COMMIT_PART_PREFIX + form, signal, ["--agent-version", version]));
      replay(answer);
      return commit;
    },
  };
}
