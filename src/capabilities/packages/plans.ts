// The argv of every step `update` and `upgrade` run, per package manager (upstream-2026 §7.2), and how an
// installed version is asked for and read. Pure data: nothing here starts a process, and nothing the console
// sends ever becomes part of an argv (the package names are fixed, the zypper alias is the host's own).
import { join } from "node:path";
import type { PlatformFamily } from "../../platform/os-release.ts";

export type Family = PlatformFamily;
export type PackageManager = "apt" | "dnf" | "yum" | "zypper";

/** The packages `upgrade` may touch: alpamon always, alpamon-pam when it is installed. */
export const ALPAMON = "alpamon";
export const ALPAMON_PAM = "alpamon-pam";

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
/** Retries of failed downloads (#225); apt has no dpkg-lock retry of its own, DPkg::Lock::Timeout is ours. */
const APT_RETRIES = ["-o", "Acquire::Retries=3"];
const ZYPPER = ["zypper", "--non-interactive"];

/**
 * The package manager for a distribution family, from what is installed in the directories of `path` (dnf
 * before yum). `path` is the PATH the package manager then runs with (packages.ts's `searchPath` seam).
 */
export function packageManagerFor(
  family: Family,
  exists: (path: string) => boolean,
  path: string = PACKAGE_ENV.PATH,
): PackageManager | undefined {
  const dirs = path.split(":").filter(Boolean);
  const has = (name: string) => dirs.some((dir) => exists(join(dir, name)));
  if (family === "debian" || (family === "unknown" && has("apt-get"))) return "apt";
  if (family === "suse" || (family === "unknown" && has("zypper"))) return has("zypper") ? "zypper" : undefined;
  if (family === "rhel" || family === "unknown") return has("dnf") ? "dnf" : has("yum") ? "yum" : undefined;
  return undefined;
}

/** The steps of a full system update; each must succeed before the next runs. */
export function updatePlan(pm: PackageManager, zypperVerb: "update" | "dup" = "update"): string[][] {
  switch (pm) {
    case "apt":
      return [
        ["apt-get", "-o", "DPkg::Lock::Timeout=600", ...APT_RETRIES, "update"],
        ["apt-get", ...APT_OPTIONS, ...APT_RETRIES, "upgrade"],
        ["apt-get", ...APT_OPTIONS, "autoremove"],
      ];
    case "dnf":
      return [["dnf", "-y", "upgrade"]];
    case "yum":
      return [["yum", "-y", "update"]];
    case "zypper":
      return [
        [...ZYPPER, "refresh"],
        [...ZYPPER, zypperVerb],
      ];
  }
}

/** Lists the configured repositories as a .repo file on stdout (to find alpamon's alias). */
export const ZYPPER_REPO_LIST = [...ZYPPER, "lr", "--export", "-"];

/** The steps that upgrade only `packages`; zypper refreshes only `zypperAlias` when one was found. */
export function selfUpgradePlan(pm: PackageManager, packages: readonly string[] = [ALPAMON], zypperAlias?: string): string[][] {
  switch (pm) {
    case "apt":
      return [
        ["apt-get", "-o", "DPkg::Lock::Timeout=600", ...APT_RETRIES, "update"],
        ["apt-get", ...APT_OPTIONS, ...APT_RETRIES, "install", "--only-upgrade", ...packages],
      ];
    case "dnf":
      return [["dnf", "-y", "upgrade", ...packages]];
    case "yum":
      return [["yum", "-y", "update", ...packages]];
    case "zypper":
      return [
        [...ZYPPER, "refresh", ...(zypperAlias ? [zypperAlias] : [])],
        [...ZYPPER, "update", ...packages],
      ];
  }
}

/** How to ask which version of `pkg` is installed (dpkg also reports removed packages whose config is kept). */
export function installedVersionQuery(pm: PackageManager, pkg: string = ALPAMON): string[] {
  // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own -f format syntax, not a template literal
  return pm === "apt" ? ["dpkg-query", "-W", "-f=${Status}\t${Version}", pkg] : ["rpm", "-q", "--qf", "%{VERSION}-%{RELEASE}", pkg];
}

/** The installed version in a query's answer, or undefined when the package is not installed. */
export function parseInstalledVersion(pm: PackageManager, exitCode: number, output: string): string | undefined {
  if (exitCode !== 0) return undefined;
  const text = output.trim();
  if (pm !== "apt") return text && !/not installed/i.test(text) ? text : undefined;
  const [status = "", version = ""] = text.split("\t");
  return / installed$/.test(status) && version.trim() ? version.trim() : undefined;
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

/** `1.2.3`, `v1.2.3`, an epoch `1:1.2.3` and a revision or release `1.2.3-1` all read as `1.2.3`. */
export function normaliseVersion(version: string): string {
  return version
    .trim()
    .replace(/^v/i, "")
    .replace(/^\d+:/, "")
    .replace(/-[^-]*$/, "");
}
