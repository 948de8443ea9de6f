// Which account tools a host has (Debian's adduser family or shadow-utils), and running them as root with
// a separate argv, a clean minimal environment and a 60 s timeout. Never goes through a shell, never
// inherits the agent's environment, and never hands an unknown distro's look-alike adduser (busybox) our flags.
import { existsSync } from "node:fs";
import type { PlatformFamily } from "../../platform/os-release.ts";
import type { RunProcess, RunResult } from "../../exec/types.ts";
import type { CommandResult } from "../../commands/registry.ts";

export type ToolFamily = "debian" | "shadow";
export type AccountOperation = "adduser" | "addgroup" | "deluser" | "delgroup";

const PROGRAMS: Record<ToolFamily, Record<AccountOperation, string>> = {
  debian: { adduser: "adduser", addgroup: "addgroup", deluser: "deluser", delgroup: "delgroup" },
  shadow: { adduser: "useradd", addgroup: "groupadd", deluser: "userdel", delgroup: "groupdel" },
};

/** /usr/sbin first (the reference's path); the others cover merged-/usr distros (Fedora 42+, Arch). */
const PROGRAM_DIRS = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"];
export const TOOL_ENV = { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", LANG: "C.UTF-8" };
export const TOOL_TIMEOUT_MS = 60_000;

export type Exists = (path: string) => boolean;

/** The absolute path of an account program, or undefined when the host has none. */
export function findProgram(name: string, exists: Exists = existsSync): string | undefined {
  return PROGRAM_DIRS.map((dir) => `${dir}/${name}`).find((path) => exists(path));
}

/**
 * The tool family and program for an operation. Debian hosts prefer adduser and fall back to shadow-utils
 * when it is missing; every other family (rhel, suse, unknown) uses shadow-utils only, because an unknown
 * distro's `adduser` may be busybox's, with different flags. `forced` pins the family (tests).
 */
export function chooseTool(
  operation: AccountOperation,
  platform: PlatformFamily,
  forced?: ToolFamily,
  exists: Exists = existsSync,
): { family: ToolFamily; program: string } | undefined {
  const order: ToolFamily[] = forced ? [forced] : platform === "debian" ? ["debian", "shadow"] : ["shadow"];
  for (const family of order) {
    const program = findProgram(PROGRAMS[family][operation], exists);
    if (program) return { family, program };
  }
  return undefined;
}

/** The reply when a host has none of the account tools (upstream-2026 §10.1 wording). */
export function notSupported(management: "user" | "group", platform: string): CommandResult {
  return { exitCode: 1, result: `Platform '${platform}' not supported for ${management} management` };
}

/** Runs an account tool as the agent (root). */
export function runTool(run: RunProcess, argv: string[], signal?: AbortSignal): Promise<RunResult> {
  return run({ argv, env: { ...TOOL_ENV }, timeoutMs: TOOL_TIMEOUT_MS, cwd: "/", ...(signal ? { signal } : {}) });
}

/** The command result for a tool run that did not succeed: its exit code and its own output. */
export function toolFailure(program: string, result: RunResult, prefix = ""): CommandResult {
  let text = result.output;
  if (result.startError) text = `could not run ${program}: ${result.startError}`;
  else if (result.timedOut) text = `${program} did not finish within ${TOOL_TIMEOUT_MS / 1000} s and was stopped.\n${text}`;
  else if (text.trim() === "") text = `${program} failed with exit code ${result.exitCode}`;
  return { exitCode: result.exitCode > 0 ? result.exitCode : 1, result: prefix + text };
}

/**
 * Which flag sets the GECOS comment for this adduser: `--comment` since adduser 3.122 (Debian 12,
 * Ubuntu 24.04), which deprecates `--gecos`; older ones (Debian 11, Ubuntu 22.04) only know `--gecos`.
 * Their usage text (`adduser --help`) lists the flags they accept, so that decides; when the help cannot
 * be read, `--gecos` is the safe answer (every version still accepts it).
 */
export async function adduserCommentFlag(run: RunProcess, program: string): Promise<"--comment" | "--gecos" | undefined> {
  const result = await run({ argv: [program, "--help"], env: { ...TOOL_ENV }, timeoutMs: 10_000, cwd: "/", maxOutputBytes: 1 << 16 });
  if (result.startError || result.timedOut) return undefined;
  return /--comment\b/.test(result.output) ? "--comment" : "--gecos";
}
