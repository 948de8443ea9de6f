// Finds and reads the config file: --config or ALPAMON_CONFIG, else /etc/alpamon/alpamon.conf, then
// ~/.alpamon.conf; the first that exists and is non-empty wins (no merging). Never logs the key.
import { readFileSync, statSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import { ConfigError } from "./errors.ts";
import { parseIni } from "./ini.ts";
import { configFromSections, type AgentConfig } from "./schema.ts";

export const SYSTEM_CONFIG_PATH = "/etc/alpamon/alpamon.conf";

/** The search list: the system file, then the user's file when HOME is set (never a relative path). */
export function defaultCandidates(env: Record<string, string | undefined>): string[] {
  const home = env.HOME;
  const list = [SYSTEM_CONFIG_PATH];
  if (home && isAbsolute(home)) list.push(join(home, ".alpamon.conf"));
  return list;
}

function describe(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? (err as Error).message;
}

/** Reads a file that must exist and hold something. */
function readRequired(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new ConfigError(path, undefined, `cannot read the config file (${describe(err)})`);
  }
  if (text.trim() === "") throw new ConfigError(path, undefined, "the config file is empty; run `alpamon setup`");
  return text;
}

/** Returns the text of a candidate, or undefined when it is missing or empty (then the search goes on). */
function readCandidate(path: string): string | undefined {
  try {
    if (statSync(path).size === 0) return undefined;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT" || (err as NodeJS.ErrnoException).code === "ENOTDIR") return undefined;
    throw new ConfigError(path, undefined, `cannot read the config file (${describe(err)})`);
  }
  const text = readRequired(path);
  return text;
}

export interface LoadOptions {
  /** --config; wins over everything. */
  explicitPath?: string | undefined;
  env?: Record<string, string | undefined>;
  /** Overrides the search list (tests). */
  candidates?: string[];
}

/** Locates, parses and validates the configuration. Throws ConfigError (exit 78) on any problem. */
export function loadConfig(options: LoadOptions = {}): AgentConfig {
  const env = options.env ?? process.env;
  const explicit = options.explicitPath ?? (env.ALPAMON_CONFIG || undefined);
  if (explicit !== undefined) {
    return configFromSections(parseIni(readRequired(explicit)), explicit);
  }
  const candidates = options.candidates ?? defaultCandidates(env);
  for (const path of candidates) {
    const text = readCandidate(path);
    if (text !== undefined) return configFromSections(parseIni(text), path);
  }
  throw new ConfigError(
    undefined,
    undefined,
    `no configuration file found (looked in ${candidates.join(", ")}); run \`alpamon setup\` or pass --config FILE`,
  );
}
