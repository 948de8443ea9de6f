// `alpamon register` and `alpamon unregister`: trade a console API token for this server's id and key
// (POST /api/servers/servers/register/), write the config like `setup` does (atomic, 0600) and start the
// service; or stop it and remove the local registration. The token never reaches argv, logs or the config.
import { existsSync, readFileSync, rmSync, statSync } from "node:fs";
import { hostname as osHostname } from "node:os";
import * as v from "valibot";
import { proxyFor } from "../console/proxy.ts";
import { buildTlsOptions } from "../console/tls.ts";
import type { RunProcess } from "../exec/types.ts";
import { writeFileAtomic } from "../platform/atomic.ts";
import type { Platform } from "../platform/os-release.ts";
import type { CloudProbeOptions } from "./cloud-metadata.ts";
import { ConfigError, RegisterError } from "./errors.ts";
import { parseIni } from "./ini.ts";
import { SYSTEM_CONFIG_PATH } from "./load.ts";
import { validateBool, validateCaCert, validateId, validateKey, validateServerUrl } from "./schema.ts";
import { renderConfig } from "./setup.ts";

export const REGISTER_PATH = "/api/servers/servers/register/";
export const SERVICE_NAME = "alpamon.service";
const REGISTER_TIMEOUT_MS = 30_000;
const SERVICE_TIMEOUT_MS = 60_000;
/** The console's SlugField for server names: ^[-a-zA-Z0-9_]+$, at most 64. */
const NAME_MAX = 64;
/** Header-safe: printable ASCII without space, quote or backslash, so `token="<t>"` needs no escaping. */
const TOKEN_PATTERN = /^[\x21\x23-\x5b\x5d-\x7e]{1,1024}$/;
const SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// RegisterError is defined beside ConfigError, so the CLI tells it apart without loading this module.
export { RegisterError };

const RegisterResponse = v.object({
  id: v.pipe(v.string("id must be a string"), v.nonEmpty("id is empty")),
  key: v.pipe(v.string("key must be a string"), v.nonEmpty("key is empty")),
  name: v.optional(v.string("name must be a string")),
});

export interface TokenSources {
  /** --token (visible in process listings). */
  flag?: string | undefined;
  /** --token-file: a path, or "-" for stdin. */
  file?: string | undefined;
  env: Record<string, string | undefined>;
  readFile?: (path: string) => string;
}

/** Picks the token: --token-file, else --token (with a warning), else $ALPACON_TOKEN. */
export function resolveToken(sources: TokenSources): { token: string; warning?: string } {
  if (sources.flag !== undefined && sources.file !== undefined) throw new RegisterError("give either --token or --token-file, not both");
  let token: string | undefined;
  let warning: string | undefined;
  if (sources.file !== undefined) {
    const read = sources.readFile ?? ((p: string) => readFileSync(p === "-" ? "/dev/stdin" : p, "utf8"));
    try {
      token = read(sources.file).trim();
    } catch (err) {
      throw new RegisterError(`cannot read the token file ${sources.file} (${(err as NodeJS.ErrnoException).code ?? "error"})`);
    }
  } else if (sources.flag !== undefined) {
    token = sources.flag.trim();
    warning = "warning: --token is visible to every user in process listings; prefer --token-file or ALPACON_TOKEN";
  } else {
    token = sources.env.ALPACON_TOKEN?.trim();
  }
  if (!token) throw new RegisterError("no API token: pass --token-file FILE, set ALPACON_TOKEN, or pass --token");
  if (!TOKEN_PATTERN.test(token)) {
    throw new RegisterError("the API token may contain only printable ASCII without spaces, quotes or backslashes");
  }
  return warning ? { token, warning } : { token };
}

/** The console's slug rule: runs of other characters become "-", trimmed, at most 64 characters. */
export function normalizeServerName(raw: string): string {
  return raw
    .replace(/[^A-Za-z0-9_]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, NAME_MAX)
    .replace(/-+$/, "");
}

/** `platform` as the console knows it: debian or rhel (suse and others send their os-release ID). */
export function consolePlatform(platform: Platform): string {
  return platform.family === "unknown" ? platform.id : platform.family;
}

/** Parses repeatable `--tag k=v` (or `k1=v1,k2=v2`) values. */
export function parseTags(values: readonly string[]): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const value of values) {
    for (const pair of value.split(",")) {
      if (pair.trim() === "") continue;
      const eq = pair.indexOf("=");
      const key = eq > 0 ? pair.slice(0, eq).trim() : "";
      if (!key) throw new RegisterError(`--tag ${JSON.stringify(pair)} is not key=value`);
      tags[key] = pair.slice(eq + 1).trim();
    }
  }
  return tags;
}

export interface RegisterInput {
  url: string;
  token: string;
  name?: string | undefined;
  sslVerify?: string | undefined;
  caCert?: string | undefined;
  tags?: Record<string, string>;
}

export interface ServiceDeps {
  runProcess: RunProcess;
  /** True when systemd is the init system (/run/systemd/system exists). */
  hasSystemd?: () => boolean;
  print?: (line: string) => void;
}

export interface RegisterOptions extends ServiceDeps {
  target?: string;
  /** Replace an existing registration. */
  force?: boolean;
  /** Do not enable and start the service afterwards. */
  noStart?: boolean;
  platform: () => Platform;
  hostname?: () => string;
  fetch?: typeof fetch;
  env?: Record<string, string | undefined>;
  userAgent: string;
  /** Where and how to look for cloud tags; false for --no-cloud-probe. */
  cloud: CloudProbeOptions | false;
}

export interface Registration {
  id: string;
  name: string;
  target: string;
  /** "started", "skipped" (no systemd or --no-start) or "failed" (the config is written all the same). */
  service: "started" | "skipped" | "failed";
}

function configExists(path: string): boolean {
  return existsSync(path) && statSync(path).size > 0;
}

function systemdRunning(): boolean {
  return existsSync("/run/systemd/system");
}

async function systemctl(deps: ServiceDeps, args: string[]): Promise<{ ok: boolean; detail: string }> {
  const r = await deps.runProcess({ argv: ["systemctl", ...args], env: { PATH: SYSTEM_PATH, LANG: "C" }, timeoutMs: SERVICE_TIMEOUT_MS });
  const detail = r.startError ?? r.output.trim().split("\n").slice(-1)[0] ?? "";
  return { ok: r.exitCode === 0, detail: detail || `exit ${r.exitCode}` };
}

async function startService(deps: ServiceDeps): Promise<Registration["service"]> {
  const print = deps.print ?? console.log;
  for (const args of [["daemon-reload"], ["enable", SERVICE_NAME], ["restart", SERVICE_NAME]]) {
    const r = await systemctl(deps, args);
    if (!r.ok) {
      print(`warning: systemctl ${args.join(" ")} failed: ${r.detail}`);
      print(`Start the agent by hand with: systemctl enable --now ${SERVICE_NAME}`);
      return "failed";
    }
  }
  return "started";
}

async function postRegister(input: RegisterInput & { name: string; platform: string }, url: string, options: RegisterOptions) {
  const endpoint = url + REGISTER_PATH;
  const verify = validateBool(input.sslVerify, true, { key: "--ssl-verify" });
  const caCert = validateCaCert(input.caCert, { key: "--ca-cert" });
  const proxy = proxyFor(endpoint, options.env ?? process.env);
  const body: Record<string, unknown> = { name: input.name, platform: input.platform };
  if (input.tags && Object.keys(input.tags).length > 0) body.tags = input.tags;
  let response: Response;
  try {
    response = await (options.fetch ?? fetch)(endpoint, {
      method: "POST",
      headers: {
        Authorization: `token="${input.token}"`,
        "Content-Type": "application/json",
        Accept: "application/json",
        "User-Agent": options.userAgent,
      },
      body: JSON.stringify(body),
      redirect: "manual", // a redirect could carry the token to another origin
      signal: AbortSignal.timeout(REGISTER_TIMEOUT_MS),
      tls: buildTlsOptions({ verify, caCert }),
      ...(proxy ? { proxy } : {}),
    } as RequestInit);
  } catch (err) {
    throw new RegisterError(`cannot reach ${endpoint}: ${(err as Error).message}`);
  }
  const text = await response.text().catch(() => "");
  if (response.status !== 201 && response.status !== 200) {
    const hint = response.status === 401 || response.status === 403 ? " (is the token valid, with the servers:register scope?)" : "";
    // The body is shown to help the operator, but a console that echoes the request must not leak the token.
    const shown = text.slice(0, 300).replace(/\s+/g, " ").split(input.token).join("***");
    throw new RegisterError(`registration failed: HTTP ${response.status}${hint}: ${shown}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new RegisterError("registration answer is not JSON");
  }
  const parsed = v.safeParse(RegisterResponse, json);
  if (!parsed.success) throw new RegisterError(`registration answer: ${parsed.issues.map((i) => i.message).join("; ")}`);
  return {
    id: validateId(parsed.output.id, { file: "registration answer", key: "id" }),
    key: validateKey(parsed.output.key, { file: "registration answer", key: "key" }),
    name: parsed.output.name ?? input.name,
    verify,
    caCert,
  };
}

/** The operator's tags over whatever the metadata service says; detection never stops a registration. */
async function withCloudTags(
  user: Record<string, string>,
  cloud: CloudProbeOptions | false,
  print: (line: string) => void,
): Promise<Record<string, string>> {
  // Loaded here: the running agent never probes, so it need not carry node:http and the providers.
  const { describeDetection, detectCloud, mergeTags } = await import("./cloud-metadata.ts");
  if (cloud === false) {
    print(describeDetection("skipped"));
    return user;
  }
  const detection = await detectCloud(cloud);
  print(describeDetection(detection));
  return "tags" in detection ? mergeTags(detection.tags, user) : user;
}

/** Registers this server and writes the config; throws RegisterError or ConfigError on any problem. */
export async function runRegister(input: RegisterInput, options: RegisterOptions): Promise<Registration> {
  const target = options.target ?? SYSTEM_CONFIG_PATH;
  const print = options.print ?? console.log;
  const url = validateServerUrl(input.url, { key: "--url" });
  if (configExists(target) && !options.force) {
    throw new RegisterError(
      `${target} already holds a registration; use \`alpamon register --force\` to replace it, or \`alpamon unregister\` first`,
    );
  }
  const rawName = input.name ?? (options.hostname ?? osHostname)().split(".")[0]!;
  const name = normalizeServerName(rawName);
  if (!name) throw new RegisterError(`server name ${JSON.stringify(rawName)} is empty once normalized; pass --name (A-Z a-z 0-9 _ -)`);
  if (name !== rawName) print(`Server name normalized to ${name}`);
  const platform = consolePlatform(options.platform());
  const tags = await withCloudTags(input.tags ?? {}, options.cloud, print);

  print(`Registering ${name} (${platform}) with ${url}...`);
  const reg = await postRegister({ ...input, name, platform, tags }, url, options);
  writeFileAtomic(
    target,
    renderConfig({ url, id: reg.id, key: reg.key, verify: reg.verify, caCert: reg.caCert, debug: false }),
    0o600,
    0o700,
  );
  print(`Configuration written to ${target}.`);

  let service: Registration["service"] = "skipped";
  if (!options.noStart && (options.hasSystemd ?? systemdRunning)()) service = await startService(options);
  else if (!options.noStart) print(`systemd is not running here; start the agent with: alpamon --config ${target}`);
  print(`Server registered: name ${reg.name}, id ${reg.id}.`);
  return { id: reg.id, name: reg.name, target, service };
}

export interface UnregisterOptions extends ServiceDeps {
  target?: string;
  /** Leave the service alone (it is neither stopped nor disabled). */
  noStop?: boolean;
}

/** Stops and disables the service (where systemd runs) and removes the config; "absent" when none was there. */
export async function runUnregister(options: UnregisterOptions): Promise<"removed" | "absent"> {
  const target = options.target ?? SYSTEM_CONFIG_PATH;
  const print = options.print ?? console.log;
  if (!configExists(target)) {
    print(`No registration found at ${target}; nothing to do. A stale server in the console must be removed there.`);
    return "absent";
  }
  let id = "";
  try {
    id = parseIni(readFileSync(target, "utf8")).server?.id ?? "";
  } catch (err) {
    throw new ConfigError(target, undefined, `cannot read the config file (${(err as NodeJS.ErrnoException).code ?? "error"})`);
  }
  if (!options.noStop && (options.hasSystemd ?? systemdRunning)()) {
    for (const args of [
      ["stop", SERVICE_NAME],
      ["disable", SERVICE_NAME],
    ]) {
      const r = await systemctl(options, args);
      if (!r.ok) print(`warning: systemctl ${args.join(" ")} failed: ${r.detail}`);
    }
  }
  rmSync(target, { force: true });
  print(
    `Local registration${id ? ` of server ${id}` : ""} removed (${target}). Remove the server in the console too; then \`alpamon register\` can run again.`,
  );
  return "removed";
}
