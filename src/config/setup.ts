// `alpamon setup`: renders the config from environment variables or flags and writes it atomically, 0600.
// The template is embedded here (never read from disk); every value is validated and quoted, so no input can
// inject INI lines. Never prints the key.
import { existsSync, statSync } from "node:fs";
import { writeFileAtomic } from "../platform/atomic.ts";
import { ConfigError } from "./errors.ts";
import { quoteIniValue } from "./ini.ts";
import { SYSTEM_CONFIG_PATH } from "./load.ts";
import { validateBool, validateCaCert, validateId, validateKey, validateServerUrl } from "./schema.ts";

export interface SetupInput {
  url?: string | undefined;
  id?: string | undefined;
  key?: string | undefined;
  sslVerify?: string | undefined;
  caCert?: string | undefined;
  debug?: string | undefined;
}

export interface SetupValues {
  url: string;
  id: string;
  key: string;
  verify: boolean;
  caCert: string | undefined;
  debug: boolean;
}

/** Flags win over environment variables; an empty value counts as unset. */
export function setupInputFromEnv(env: Record<string, string | undefined>, flags: SetupInput): SetupInput {
  const pick = (flag: string | undefined, name: string) => (flag !== undefined && flag !== "" ? flag : env[name] || undefined);
  return {
    url: pick(flags.url, "ALPACON_URL"),
    id: pick(flags.id, "PLUGIN_ID"),
    key: pick(flags.key, "PLUGIN_KEY"),
    sslVerify: pick(flags.sslVerify, "ALPACON_SSL_VERIFY"),
    caCert: pick(flags.caCert, "ALPACON_CA_CERT"),
    debug: pick(flags.debug, "PLUGIN_DEBUG"),
  };
}

/** Validates with the same rules the agent applies when it loads the file. */
export function validateSetupInput(input: SetupInput): SetupValues {
  const missing = [
    input.url ? undefined : "ALPACON_URL (--url)",
    input.id ? undefined : "PLUGIN_ID (--id)",
    input.key ? undefined : "PLUGIN_KEY (--key-file)",
  ].filter(Boolean);
  if (missing.length > 0) throw new ConfigError("setup", undefined, `missing ${missing.join(", ")}`);
  for (const [name, value] of Object.entries(input)) {
    if (value !== undefined && /[\r\n]/.test(value)) {
      throw new ConfigError("setup", name, "must not contain a line break");
    }
  }
  return {
    url: validateServerUrl(input.url!, { file: "setup", key: "ALPACON_URL" }),
    id: validateId(input.id!, { file: "setup", key: "PLUGIN_ID" }),
    key: validateKey(input.key!, { file: "setup", key: "PLUGIN_KEY" }),
    verify: validateBool(input.sslVerify, true, { file: "setup", key: "ALPACON_SSL_VERIFY" }),
    caCert: validateCaCert(input.caCert, { file: "setup", key: "ALPACON_CA_CERT" }),
    debug: validateBool(input.debug, false, { file: "setup", key: "PLUGIN_DEBUG" }),
  };
}

export function renderConfig(values: SetupValues): string {
  return [
    "# alpamon configuration, written by `alpamon setup`. Values in double quotes are taken literally.",
    "[server]",
    `url = ${quoteIniValue(values.url)}`,
    `id = ${quoteIniValue(values.id)}`,
    `key = ${quoteIniValue(values.key)}`,
    "",
    "[ssl]",
    `verify = ${values.verify}`,
    `ca_cert = ${quoteIniValue(values.caCert ?? "")}`,
    "",
    "[logging]",
    `debug = ${values.debug}`,
    "",
    "[agent]",
    "# data_dir = /var/lib/alpamon",
    "# log_file = /var/log/alpamon/alpamon.log",
    "# pid_file = /run/alpamon/alpamon.pid",
    "",
  ].join("\n");
}

export type SetupOutcome = "written" | "kept";

export interface SetupOptions {
  target?: string;
  force?: boolean;
  /** Asked when a config exists and stdin is a terminal; resolves true to overwrite. */
  confirmOverwrite?: (() => Promise<boolean>) | undefined;
  print?: (line: string) => void;
}

export async function runSetup(input: SetupInput, options: SetupOptions = {}): Promise<SetupOutcome> {
  const target = options.target ?? SYSTEM_CONFIG_PATH;
  const print = options.print ?? ((line: string) => console.log(line));
  const values = validateSetupInput(input);
  const exists = existsSync(target) && statSync(target).size > 0;
  if (exists && !options.force) {
    print(`A configuration file already exists at ${target}.`);
    const overwrite = options.confirmOverwrite ? await options.confirmOverwrite() : false;
    if (!overwrite) {
      print("Keeping the existing configuration file (use --force to replace it).");
      return "kept";
    }
  }
  writeFileAtomic(target, renderConfig(values), 0o600, 0o700);
  print(`Configuration written to ${target}.`);
  return "written";
}
