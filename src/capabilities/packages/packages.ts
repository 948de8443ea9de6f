// `update` (upgrade the system's packages) and `upgrade` (upgrade the alpamon package itself, then restart it
// through a transient systemd timer so the package manager is never killed mid-run). Non-interactive, keeps
// existing config files, waits for a held dpkg lock. Plans are pure functions; running them goes through exec/.
import { existsSync } from "node:fs";
import type { Logger } from "../../log/logger.ts";
import type { RunProcess, RunResult } from "../../exec/types.ts";
import { fail, ok, type CommandResult } from "../../commands/contract.ts";
import type { FamilyBodies } from "../../commands/lazy.ts";

import type { PlatformFamily } from "../../platform/os-release.ts";

export type Family = PlatformFamily;
export type PackageManager = "apt" | "dnf" | "yum" | "zypper";

export const PACKAGE_ENV = {
  PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
  LANG: "C.UTF-8",
  DEBIAN_FRONTEND: "noninteractive",
  NEEDRESTART_MODE: "a",
};
const APT_OPTIONS = [
  "-y",
  "-o",
  "DPkg::Lock::Timeout=600",
  "-o",
  "Dpkg::Options::=--force-confdef",
  "-o",
  "Dpkg::Options::=--force-confold",
];

/** The package manager for a distribution family, from what is installed (dnf before yum). */
export function packageManagerFor(family: Family, exists: (path: string) => boolean = existsSync): PackageManager | undefined {
  const has = (name: string) => ["/usr/bin/", "/bin/", "/usr/sbin/"].some((dir) => exists(dir + name));
  if (family === "debian" || (family === "unknown" && has("apt-get"))) return "apt";
  if (family === "suse" || (family === "unknown" && has("zypper"))) return has("zypper") ? "zypper" : undefined;
  if (family === "rhel" || family === "unknown") return has("dnf") ? "dnf" : has("yum") ? "yum" : undefined;
  return undefined;
}

/** The steps of a full system update; each must succeed before the next runs. */
export function updatePlan(pm: PackageManager): string[][] {
  switch (pm) {
    case "apt":
      return [
        ["apt-get", "-o", "DPkg::Lock::Timeout=600", "update"],
        ["apt-get", ...APT_OPTIONS, "upgrade"],
        ["apt-get", ...APT_OPTIONS, "autoremove"],
      ];
    case "dnf":
      return [["dnf", "-y", "upgrade"]];
    case "yum":
      return [["yum", "-y", "update"]];
    case "zypper":
      return [["zypper", "--non-interactive", "update"]];
  }
}

/** How to ask which alpamon version is installed. */
export function installedVersionQuery(pm: PackageManager): string[] {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own -f format syntax, not a template literal
  return pm === "apt" ? ["dpkg-query", "-W", "-f=${Version}", "alpamon"] : ["rpm", "-q", "--qf", "%{VERSION}", "alpamon"];
}

/** The steps that upgrade only the alpamon package. */
export function selfUpgradePlan(pm: PackageManager): string[][] {
  switch (pm) {
    case "apt":
      return [
        ["apt-get", "-o", "DPkg::Lock::Timeout=600", "update"],
        ["apt-get", ...APT_OPTIONS, "install", "--only-upgrade", "alpamon"],
      ];
    case "dnf":
      return [["dnf", "-y", "upgrade", "alpamon"]];
    case "yum":
      return [["yum", "-y", "update", "alpamon"]];
    case "zypper":
      return [["zypper", "--non-interactive", "update", "alpamon"]];
  }
}

/** A restart 30 s later in its own transient unit, outside the agent's cgroup. */
export function restartTimerArgv(now: number): string[] {
  return [
    "systemd-run",
    `--unit=alpamon-upgrade-restart-${now}`,
    "--on-active=30",
    "--timer-property=AccuracySec=1s",
    "systemctl",
    "restart",
    "alpamon.service",
  ];
}

/** `1.2.3`, `v1.2.3` and a Debian revision `1.2.3-1` all compare as `1.2.3`. */
export function normaliseVersion(version: string): string {
  return version
    .trim()
    .replace(/^v/i, "")
    .replace(/^\d+:/, "")
    .replace(/-[^-]*$/, "");
}

export interface PackageCommandDeps {
  runProcess: RunProcess;
  family: () => Family;
  version: string;
  log: Logger;
  now: () => number;
  /** Per-step timeout; default 1 hour. */
  timeoutMs?: number;
  maxOutputBytes?: number;
  hasSystemd?: () => boolean;
  /** Which package manager to use; default from the family and what is installed. */
  packageManager?: () => PackageManager | undefined;
}

/** The bodies of the commands packages/index.ts declares, keyed by name. */
export function packageCommands(deps: PackageCommandDeps): FamilyBodies {
  const timeoutMs = deps.timeoutMs ?? 60 * 60 * 1000;
  const maxOutputBytes = deps.maxOutputBytes ?? 8 * 1024 * 1024;
  const hasSystemd = deps.hasSystemd ?? (() => existsSync("/run/systemd/system"));
  const managerFor = deps.packageManager ?? (() => packageManagerFor(deps.family()));
  const run = (argv: string[], signal?: AbortSignal): Promise<RunResult> =>
    deps.runProcess({ argv, env: PACKAGE_ENV, timeoutMs, maxOutputBytes, ...(signal ? { signal } : {}) });

  async function runSteps(steps: string[][], signal: AbortSignal): Promise<CommandResult> {
    let output = "";
    for (const argv of steps) {
      const r = await run(argv, signal);
      if (r.startError) return { exitCode: 1, result: `${output}${r.startError}` };
      output += r.output + (r.omittedBytes ? `\n[alpamon: output truncated, ${r.omittedBytes} bytes omitted]\n` : "");
      if (r.timedOut) return { exitCode: 1, result: `${output}\n[alpamon: ${argv[0]} timed out after ${timeoutMs / 1000} s]` };
      if (r.exitCode !== 0) return { exitCode: r.exitCode === -1 ? 1 : r.exitCode, result: output };
    }
    return { exitCode: 0, result: output };
  }

  async function installedVersion(pm: PackageManager): Promise<string | undefined> {
    const r = await run(installedVersionQuery(pm));
    return r.exitCode === 0 && r.output.trim() && !/not installed/i.test(r.output) ? normaliseVersion(r.output) : undefined;
  }

  return {
    update: {
      run: async (_data, ctx) => {
        const pm = managerFor();
        if (!pm) return fail(`Platform '${deps.family()}' not supported: no known package manager found.`);
        return runSteps(updatePlan(pm), ctx.signal);
      },
    },
    upgrade: {
      run: async (_data, ctx) => {
        const pm = managerFor();
        if (!pm) return fail(`Platform '${deps.family()}' not supported: no known package manager found.`);
        const before = await installedVersion(pm);
        if (!before) return fail(`The alpamon package is not installed through ${pm}; upgrade alpamon the way it was installed.`);
        const steps = await runSteps(selfUpgradePlan(pm), ctx.signal);
        if (steps.exitCode !== 0) return steps;
        const after = await installedVersion(pm);
        if (!after || after === before) {
          return ok(`Alpamon is already up-to-date (version: ${normaliseVersion(deps.version)})`);
        }
        if (!hasSystemd())
          return ok(`${steps.result}\nUpgraded alpamon ${before} → ${after}; no systemd found: restart alpamon to use it.`);
        const timer = await run(restartTimerArgv(deps.now()));
        if (timer.exitCode !== 0) {
          deps.log.warn("could not schedule the restart after an upgrade", { output: timer.output || timer.startError });
          return ok(`${steps.result}\nUpgraded alpamon ${before} → ${after}; scheduling the restart failed: restart alpamon to use it.`);
        }
        return ok(`${steps.result}\nUpgraded alpamon ${before} → ${after}; alpamon will restart in 30 seconds.`);
      },
    },
  };
}
