// `byebye` (upstream-2026 §10.1, §10.6): the console retires this server. The agent checks first that the
// package manager owns its binary (and that the package is alpamon), so it can really go; otherwise it refuses
// and changes nothing. Then it replies, and a second later: unregisters itself from the console (best effort,
// directly: the outbox would outlive the package), schedules the package removal 5 s out, where it survives
// the agent's exit (a transient systemd unit, or a detached shell without systemd), and stops.
import { existsSync, realpathSync } from "node:fs";
import type { HttpMethod, HttpResult } from "../../console/http.ts";
import type { RunProcess } from "../../exec/types.ts";
import type { Logger } from "../../log/logger.ts";
import type { Clock } from "../../platform/clock.ts";
import type { Lifecycle } from "../../platform/lifecycle.ts";
import { type CommandResult, fail, ok } from "../../commands/contract.ts";

/** The self placeholder: the console knows which server asks from the Authorization header. */
export const UNREGISTER_SELF_PATH = "/api/servers/servers/-/unregister/";
export const BYEBYE_OK = "Starting uninstall process...";
const PACKAGE = "alpamon";
const UNREGISTER_TIMEOUT_MS = 10_000;
const TOOL_ENV = { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", LANG: "C.UTF-8", DEBIAN_FRONTEND: "noninteractive" };

export type PackageManager = "apt-get" | "yum" | "dnf" | "zypper";

/** The removal the transient unit (or the detached shell) runs, as upstream. */
export function removalScript(pm: PackageManager): string {
  switch (pm) {
    case "apt-get":
      return `apt-get purge ${PACKAGE} -y && apt-get autoremove -y`;
    case "yum":
    case "dnf":
      return `${pm} remove ${PACKAGE} -y`;
    case "zypper":
      return `zypper --non-interactive remove ${PACKAGE}`;
  }
}

/** The argv that schedules `script` 5 s from now, outliving the agent. */
export function scheduleArgv(script: string, systemd: boolean, collect = true): string[] {
  if (!systemd) return ["/bin/sh", "-c", `(sleep 5 && ${script}) </dev/null >/dev/null 2>&1 &`];
  return [
    "systemd-run",
    "--unit=alpamon-uninstall",
    "--on-active=5",
    ...(collect ? ["--collect"] : []),
    `--setenv=DEBIAN_FRONTEND=${TOOL_ENV.DEBIAN_FRONTEND}`,
    "/bin/sh",
    "-c",
    script,
  ];
}

export interface ByebyeDeps {
  /** The console link's client; byebye is refused without it. */
  http?: { request(method: HttpMethod, path: string, options: { timeoutMs?: number }): Promise<HttpResult> };
  lifecycle: Lifecycle;
  clock: Clock;
  runProcess: RunProcess;
  /** The agent's binary; default process.execPath. */
  binaryPath?: () => string;
  hasSystemd?: () => boolean;
  /** Whether a program is installed (looked up in the tool PATH). */
  hasProgram?: (name: string) => boolean;
  delayMs?: number;
}

type Owner = { ok: true; pm: PackageManager } | { ok: false; reason: string };

function installed(name: string): boolean {
  return TOOL_ENV.PATH.split(":").some((dir) => existsSync(`${dir}/${name}`));
}

const PACKAGE_NAME = /^[A-Za-z0-9][A-Za-z0-9+._-]*$/;

/** `dpkg-query -S` prints `pkg[:arch][, pkg2...]: path`; the first package. */
function parseDpkgOwner(output: string): string | undefined {
  const first = output.split("\n")[0] ?? "";
  const colon = first.indexOf(": ");
  if (colon <= 0) return undefined;
  const name = first.slice(0, colon).split(",")[0]!.trim().split(":")[0]!;
  return PACKAGE_NAME.test(name) ? name : undefined;
}

/** Which package manager owns the binary, and whether the package is alpamon: the whole decision. */
export async function packageOwner(deps: ByebyeDeps, signal?: AbortSignal): Promise<Owner> {
  const has = deps.hasProgram ?? installed;
  const raw = (deps.binaryPath ?? (() => process.execPath))();
  let real = raw;
  try {
    real = realpathSync(raw);
  } catch {
    // a binary replaced or removed under us: ask about the name it ran as
  }
  const paths = [...new Set([raw, real])];
  const query = async (argv: string[]) => {
    const r = await deps.runProcess({ argv, env: TOOL_ENV, timeoutMs: 30_000, maxOutputBytes: 64 * 1024, ...(signal ? { signal } : {}) });
    return r.exitCode === 0 ? r.output : undefined;
  };
  let owner: { tool: "dpkg" | "rpm"; name: string; path: string } | undefined;
  for (const path of paths) {
    if (owner) break;
    if (has("dpkg-query")) {
      const out = await query(["dpkg-query", "-S", path]);
      const name = out === undefined ? undefined : parseDpkgOwner(out);
      if (name) owner = { tool: "dpkg", name, path };
    }
    if (!owner && has("rpm")) {
      const name = (await query(["rpm", "-qf", "--queryformat", "%{NAME}\\n", path]))?.trim().split("\n")[0];
      if (name && PACKAGE_NAME.test(name)) owner = { tool: "rpm", name, path };
    }
  }
  if (!owner) {
    return {
      ok: false,
      reason: `byebye: ${real} is not installed by a package manager (dpkg or rpm); nothing was changed. Remove it by hand: alpamon unregister, then delete the binary.`,
    };
  }
  if (owner.name !== PACKAGE) {
    return { ok: false, reason: `byebye: ${owner.path} belongs to the package ${owner.name}, not ${PACKAGE}; nothing was changed.` };
  }
  const candidates: PackageManager[] = owner.tool === "dpkg" ? ["apt-get"] : ["zypper", "dnf", "yum"];
  const pm = candidates.find(has);
  if (!pm)
    return {
      ok: false,
      reason: `byebye: ${PACKAGE} is an ${owner.tool} package but ${candidates.join(", ")} is not installed; nothing was changed.`,
    };
  return { ok: true, pm };
}

/** The command's body; the spec (name, summary, timeout) is in commands.ts. */
export function byebye(deps: ByebyeDeps): (data: unknown, ctx: { signal: AbortSignal; log: Logger }) => Promise<CommandResult> {
  const hasSystemd = deps.hasSystemd ?? (() => existsSync("/run/systemd/system"));

  const unregister = async (log: Logger): Promise<void> => {
    const r = await deps.http!.request("DELETE", UNREGISTER_SELF_PATH, { timeoutMs: UNREGISTER_TIMEOUT_MS });
    if (r.status >= 200 && r.status < 300) log.info("unregistered from the console");
    else
      log.warn("unregistering from the console failed; remove the server in the console", {
        status: r.status,
        error: r.error ?? r.text.slice(0, 200),
      });
  };

  const schedule = async (pm: PackageManager, log: Logger): Promise<void> => {
    const script = removalScript(pm);
    const systemd = hasSystemd();
    const run = (argv: string[]) => deps.runProcess({ argv, env: TOOL_ENV, timeoutMs: 30_000, maxOutputBytes: 64 * 1024 });
    let r = await run(scheduleArgv(script, systemd));
    // systemd before 236 has no --collect.
    if (systemd && r.exitCode !== 0) r = await run(scheduleArgv(script, systemd, false));
    if (r.exitCode === 0) log.info("package removal scheduled in 5 seconds", { command: script });
    else log.error("scheduling the package removal failed", { command: script, output: (r.startError ?? r.output).trim() });
  };

  return async (_data, ctx) => {
    const log = ctx.log;
    if (!deps.http) return fail("byebye: this agent has no console link to unregister through; nothing was changed.");
    const owner = await packageOwner(deps, ctx.signal);
    if (!owner.ok) {
      log.warn("byebye refused", { reason: owner.reason });
      return fail(owner.reason);
    }
    const pm = owner.pm;
    void deps.clock.sleep(deps.delayMs ?? 1000, deps.lifecycle.signal).then(
      async () => {
        try {
          await unregister(log);
        } catch (err) {
          log.warn("unregistering from the console failed", { error: err });
        }
        try {
          await schedule(pm, log);
        } catch (err) {
          log.error("scheduling the package removal failed", { error: err });
        }
        deps.lifecycle.requestStop({ kind: "quit" });
      },
      () => {},
    );
    return ok(BYEBYE_OK);
  };
}
