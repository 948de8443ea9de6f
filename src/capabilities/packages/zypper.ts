// What zypper's answers mean for `update` and `upgrade` (upstream-2026 §7.2): which repository alias the
// alpamon refresh is scoped to, which exit codes count as success, which are a held lock worth retrying,
// and the operator hints and notes added to the reply. Pure functions only; running zypper is packages.ts's.

/** ZYPPER_EXIT_ZYPP_LOCKED: another zypper, YaST or PackageKit holds the lock. */
export const ZYPPER_LOCKED = 7;
/** Attempts in total for a step that finds the lock held, and the wait between them. */
export const ZYPPER_LOCK_ATTEMPTS = 3;
export const ZYPPER_LOCK_DELAY_MS = 15_000;

/** What identifies the alpamon repository in `zypper lr --export -`. */
const ALPAMON_REPO_MARK = "packagecloud.io/alpacax/alpamon";

/**
 * The alias of the enabled repository that mentions the alpamon repository in `zypper lr --export -` (a .repo
 * file: `[alias]` sections of key=value lines), or undefined. An alias zypper could take for an option is
 * never returned: the refresh is then not scoped.
 */
export function alpamonRepoAlias(exported: string): string | undefined {
  let alias: string | undefined;
  let mentions = false;
  let enabled = true;
  const chosen = (): string | undefined => (alias && mentions && enabled && !alias.startsWith("-") ? alias : undefined);
  for (const raw of exported.split(/\r?\n/)) {
    const line = raw.trim();
    const section = /^\[(.+)\]$/.exec(line);
    if (section) {
      const found = chosen();
      if (found) return found;
      alias = section[1]!.trim();
      mentions = false;
      enabled = true;
      continue;
    }
    if (!alias) continue;
    if (line.toLowerCase().includes(ALPAMON_REPO_MARK)) mentions = true;
    const enabledValue = /^enabled\s*=\s*(.*)$/i.exec(line);
    if (enabledValue) enabled = enabledValue[1]!.trim() === "1";
  }
  return chosen();
}

export interface ZypperRun {
  /** `upgrade` (alpamon itself) rather than `update` (the whole system). */
  upgrade: boolean;
  /** The refresh was scoped to the alpamon repository (an alias was found). */
  scopedRefresh: boolean;
}

/**
 * 0 is success, and so are 102 (reboot needed) and 103 (zypper itself needs a restart). 106 (some repositories
 * were skipped) is success only for `upgrade` after a refresh scoped to alpamon's repository: the skipped ones
 * are the other repositories, which the upgrade does not need.
 */
export function zypperSucceeded(exitCode: number, run: ZypperRun): boolean {
  if (exitCode === 0 || exitCode === 102 || exitCode === 103) return true;
  return exitCode === 106 && run.upgrade && run.scopedRefresh;
}

const HINTS: Readonly<Record<number, string>> = {
  4:
    "Hint: zypper reported a libzypp error (exit 4), most often a repository that could not be refreshed " +
    "(network, proxy, or a repository GPG key that is missing or expired) or a dependency problem. " +
    "Run `zypper refresh` on the server to see which repository fails.",
  6:
    "Hint: zypper has no repositories defined (exit 6). Add the alpamon repository " +
    "(https://packagecloud.io/alpacax/alpamon) with `zypper addrepo`, then try again.",
  [ZYPPER_LOCKED]:
    `Hint: another process holds the zypper lock (exit 7), still after ${ZYPPER_LOCK_ATTEMPTS} attempts ` +
    `${ZYPPER_LOCK_DELAY_MS / 1000} s apart. Wait for the running zypper, YaST or PackageKit job to finish ` +
    "(/run/zypp.pid names it), then try again.",
  104:
    "Hint: zypper found no package by that name (exit 104). Check that the alpamon repository is added and " +
    "enabled (`zypper lr`) and that it carries a build for this architecture.",
  106:
    "Hint: zypper skipped one or more repositories it could not refresh (exit 106), so the result may be " +
    "incomplete. Run `zypper refresh` on the server to see which repository fails.",
};

/** The fixed operator hint for a failing zypper exit code, if it has one. */
export function zypperHint(exitCode: number): string | undefined {
  return HINTS[exitCode];
}

/** zypper's output with the hint for `exitCode` appended after a blank line (unchanged without a hint). */
export function withZypperHint(output: string, exitCode: number): string {
  const hint = zypperHint(exitCode);
  return hint ? appendParagraph(output, hint) : output;
}

/** `text` followed by a blank line and `paragraph` (just `paragraph` when `text` is empty). */
export function appendParagraph(text: string, paragraph: string): string {
  const body = text.replace(/\n+$/, "");
  return body ? `${body}\n\n${paragraph}` : paragraph;
}

export interface UnmovedPackage {
  name: string;
  version: string;
}

/** The note for packages whose `rpm -q` version is the same before and after zypper succeeded, or undefined. */
export function unmovedNote(unmoved: readonly UnmovedPackage[]): string | undefined {
  if (unmoved.length === 0) return undefined;
  const list = unmoved.map((p) => `${p.name} (still ${p.version})`).join(", ");
  return (
    `zypper exited 0 but ${list} did not move. The repository may not carry a newer build yet, or its vendor ` +
    "changed: solver.allowVendorChange is off by default, and zypper then declines the upgrade without failing."
  );
}

/** Rolling releases take `dup`, not `update`, for a full system update. */
const ROLLING = new Set(["opensuse-tumbleweed", "opensuse-slowroll"]);

export function zypperSystemVerb(platformId: string): "dup" | "update" {
  return ROLLING.has(platformId) ? "dup" : "update";
}
