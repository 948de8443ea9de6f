// The agent's side of the inventory helper (collect-main.ts): each collection runs in a process of its own,
// the agent's binary started as root through exec/ (`alpamon inventory-collect <what>`), and only its one line
// of JSON comes back. The collectors' code, the package and account lists they parse and the garbage they
// leave never enter the long-lived agent: measured, about 1.7 MB of the idle agent's RssAnon was what one
// start-up commit and firewall sync left behind, far more than the code itself (BENCHMARKS.md, "Round 4").
// The helper is the agent's own tool: it runs without an identity switch, with a fixed environment, bounded
// in time and output; whatever it fails at is an error here, which the inventory treats as keys not collected.
import type { RunProcess } from "../../exec/types.ts";
import type { Fields, Level, Logger } from "../../log/logger.ts";
import { TOOL_ENV } from "./collectors/env.ts";
import type { Snapshot, SnapshotKey } from "./types.ts";

export const COLLECT_SUBCOMMAND = "inventory-collect";
/** The part of <what> that asks for the agent's firewall chains. */
export const FIREWALL_PART = "firewall";
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
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** The last line of a text, without copying the rest (an answer may be megabytes). */
function lastLine(text: string): string {
  const trimmed = text.trimEnd();
  return trimmed.slice(trimmed.lastIndexOf("\n") + 1);
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
  const run = async (what: string[], signal: AbortSignal | undefined): Promise<HelperOutput> => {
    if (signal?.aborted) throw new Error("the inventory helper was not started: the inventory is stopping");
    const result = await deps.runProcess({
      argv: deps.argv([COLLECT_SUBCOMMAND, what.join(","), "--data-dir", deps.dataDir]),
      env: TOOL_ENV,
      timeoutMs,
      maxOutputBytes: deps.maxOutputBytes ?? HELPER_MAX_OUTPUT_BYTES,
      ...(signal ? { signal } : {}),
    });
    if (signal?.aborted) throw new Error("the inventory helper was stopped: the inventory is stopping");
    if (result.startError) throw new Error(`the inventory helper could not start: ${result.startError}`);
    if (result.timedOut) throw new Error(`the inventory helper did not finish within ${timeoutMs / 1000} s`);
    if (result.omittedBytes > 0)
      throw new Error(`the inventory helper's answer is larger than ${deps.maxOutputBytes ?? HELPER_MAX_OUTPUT_BYTES} bytes`);
    if (result.exitCode !== 0) {
      throw new Error(`the inventory helper exited with ${result.signal ?? result.exitCode}: ${lastLine(result.output).slice(0, 500)}`);
    }
    const answer = readHelperOutput(result.output);
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
      const { snapshot } = await run([...keys], signal);
      // Only what was asked for: a key the helper added is not this collection's.
      const wanted: Partial<Snapshot> = {};
      for (const key of keys) if (Object.hasOwn(snapshot, key)) (wanted as Record<string, unknown>)[key] = snapshot[key];
      return wanted;
    },
    async firewallChains(signal) {
      return (await run([FIREWALL_PART], signal)).firewall ?? [];
    },
  };
}
