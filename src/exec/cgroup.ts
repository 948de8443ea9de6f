// The user-work cgroup: everything exec/ starts as an identity runs in a pids cgroup below the agent's own,
// whose pids.max keeps a reserve of the agent's task budget free, so users' processes (a fork loop, 300
// background jobs) can never take the tasks the agent needs to answer the next command.
//
// cgroup v1 (a `pids` hierarchy): `<own>/alpamon-work` beside the agent, which stays where it is.
// cgroup v2: the "no internal processes" rule means the agent first moves itself into `<own>/agent`, then
// enables +pids in `<own>/cgroup.subtree_control` and creates `<own>/work`. Under systemd the unit needs
// Delegate=yes; release() and `alpamon cgroup-release` (ExecStartPre) undo the +pids so systemd can put the
// next main process into the unit's cgroup even while users' leftover processes live on in `work`.
// Pure parsers first, then the effects.
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import { basename, dirname, join } from "node:path";

/** The agent keeps at least this many tasks of its budget, or this share of it, whichever is larger. */
export const AGENT_RESERVE_MIN = 64;
export const AGENT_RESERVE_SHARE = 0.25;
export const WORK_V1 = "alpamon-work";
export const AGENT_LEAF = "agent";
export const WORK_LEAF = "work";

export interface ProcCgroupLine {
  id: number;
  /** Empty for the v2 (unified) line `0::/path`. */
  controllers: string[];
  path: string;
}

export interface MountEntry {
  /** The directory of the mounted file system that appears at mountPoint (a cgroup path for cgroupfs). */
  root: string;
  mountPoint: string;
  fsType: string;
  superOptions: string[];
}

export interface PidsHierarchy {
  version: 1 | 2;
  mountPoint: string;
  /** The agent's own cgroup directory in that hierarchy. */
  dir: string;
}

export type PidsLimit = number | "max";

/** /proc/<pid>/cgroup: `id:controller,list:/path` per line. */
export function parseProcCgroup(text: string): ProcCgroupLine[] {
  const lines: ProcCgroupLine[] = [];
  for (const line of text.split("\n")) {
    const first = line.indexOf(":");
    const second = line.indexOf(":", first + 1);
    if (first <= 0 || second < 0) continue;
    const id = Number(line.slice(0, first));
    const path = line.slice(second + 1);
    if (!Number.isInteger(id) || !path.startsWith("/")) continue;
    const list = line.slice(first + 1, second);
    lines.push({ id, controllers: list ? list.split(",") : [], path });
  }
  return lines;
}

/** Paths in mountinfo escape space, tab, newline and backslash as \ooo. */
function unescapeMountPath(text: string): string {
  return text.replace(/\\([0-7]{3})/g, (_m, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/** /proc/self/mountinfo: `id parent dev root mountpoint options [optional...] - fstype source superoptions`. */
export function parseMountinfo(text: string): MountEntry[] {
  const mounts: MountEntry[] = [];
  for (const line of text.split("\n")) {
    const fields = line.split(" ");
    const dash = fields.indexOf("-", 6);
    if (fields.length < 10 || dash < 0 || dash + 3 > fields.length) continue;
    mounts.push({
      root: unescapeMountPath(fields[3]!),
      mountPoint: unescapeMountPath(fields[4]!),
      fsType: fields[dash + 1]!,
      superOptions: (fields[dash + 3] ?? "").split(","),
    });
  }
  return mounts;
}

/** Where cgroup `path` appears under `mount`, or undefined when the mount shows another part of the tree. */
function dirUnder(mount: MountEntry, path: string): string | undefined {
  const root = mount.root === "/" ? "" : mount.root;
  if (root && path !== root && !path.startsWith(`${root}/`)) return undefined;
  const rest = path.slice(root.length);
  return rest === "" || rest === "/" ? mount.mountPoint : join(mount.mountPoint, rest);
}

/** The hierarchies that could hold the pids controller for this process: v1 `pids` first, then v2. */
export function locatePidsHierarchies(cgroups: ProcCgroupLine[], mounts: MountEntry[]): PidsHierarchy[] {
  const found: PidsHierarchy[] = [];
  const v1 = cgroups.find((c) => c.controllers.includes("pids"));
  const v1Mount = mounts.find((m) => m.fsType === "cgroup" && m.superOptions.includes("pids"));
  if (v1 && v1Mount) {
    const dir = dirUnder(v1Mount, v1.path);
    if (dir) found.push({ version: 1, mountPoint: v1Mount.mountPoint, dir });
  }
  const v2 = cgroups.find((c) => c.id === 0 && c.controllers.length === 0);
  const v2Mount = mounts.find((m) => m.fsType === "cgroup2");
  if (v2 && v2Mount) {
    const dir = dirUnder(v2Mount, v2.path);
    if (dir) found.push({ version: 2, mountPoint: v2Mount.mountPoint, dir });
  }
  return found;
}

export function parsePidsMax(text: string): PidsLimit | undefined {
  const value = text.trim();
  if (value === "max") return "max";
  return /^\d+$/.test(value) ? Number(value) : undefined;
}

/** Hierarchical limits: the tightest one on the way up is the budget. */
export function tightestLimit(limits: (PidsLimit | undefined)[]): PidsLimit {
  const numbers = limits.filter((l): l is number => typeof l === "number");
  return numbers.length > 0 ? Math.min(...numbers) : "max";
}

export function agentReserve(limit: number): number {
  return Math.max(AGENT_RESERVE_MIN, Math.ceil(limit * AGENT_RESERVE_SHARE));
}

/** pids.max for user work under an agent budget of `limit` (at least 1, so a single command still runs). */
export function workLimit(limit: PidsLimit): PidsLimit {
  return limit === "max" ? "max" : Math.max(1, limit - agentReserve(limit));
}

// ---- effects ----

export interface WorkCgroup {
  version: 1 | 2;
  /** The user-work cgroup's directory. */
  dir: string;
  /** Its cgroup.procs: what the launcher writes itself into. */
  procs: string;
  /** The agent's budget found above, and the work group's pids.max. */
  budget: PidsLimit;
  limit: PidsLimit;
  /** Undoes what setup changed that would get in the way of the next start; returns a problem or undefined. */
  release(): string | undefined;
}

export type CgroupSetup = { ok: true; work: WorkCgroup } | { ok: false; reason: string };

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

function errorText(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e.code ?? e.message ?? String(err);
}

/** Writes one value to a cgroup file; returns the errno name on failure. */
function writeValue(path: string, value: string): string | undefined {
  try {
    writeFileSync(path, value);
    return undefined;
  } catch (err) {
    return errorText(err);
  }
}

function ensureDir(path: string): string | undefined {
  try {
    mkdirSync(path);
    return undefined;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EEXIST" ? undefined : errorText(err);
  }
}

function removeDir(path: string): void {
  try {
    rmdirSync(path);
  } catch {
    // not empty (leftover processes) or already gone: it stays
  }
}

/** The tightest pids.max from `dir` up to the hierarchy's mount point. */
export function budgetAbove(dir: string, mountPoint: string): PidsLimit {
  const limits: (PidsLimit | undefined)[] = [];
  for (let d = dir; ; d = dirname(d)) {
    const text = readText(join(d, "pids.max"));
    limits.push(text === undefined ? undefined : parsePidsMax(text));
    if (d === mountPoint || d === dirname(d) || !d.startsWith(mountPoint)) break;
  }
  return tightestLimit(limits);
}

function createWork(version: 1 | 2, dir: string, budget: PidsLimit, release: () => string | undefined): CgroupSetup {
  const made = ensureDir(dir);
  if (made) return { ok: false, reason: `cannot create ${dir} (${made})` };
  const limit = workLimit(budget);
  const wrote = writeValue(join(dir, "pids.max"), String(limit));
  if (wrote) return { ok: false, reason: `cannot set ${join(dir, "pids.max")} (${wrote})` };
  return { ok: true, work: { version, dir, procs: join(dir, "cgroup.procs"), budget, limit, release } };
}

/**
 * v1: the work group beside the agent. Nothing to undo at release: the group stays (several agents may share
 * a hierarchy's root, and leftover processes stay bounded in it).
 */
export function setupV1(h: PidsHierarchy): CgroupSetup {
  return createWork(1, join(h.dir, WORK_V1), budgetAbove(h.dir, h.mountPoint), () => undefined);
}

/** After a restart in place the agent is still in its own leaf: the unit's cgroup is one up. */
function unitDirOf(dir: string): string {
  const parent = dirname(dir);
  return basename(dir) === AGENT_LEAF && existsSync(join(parent, WORK_LEAF)) ? parent : dir;
}

function subtreeHasPids(dir: string): boolean {
  return (readText(join(dir, "cgroup.subtree_control")) ?? "").split(/\s+/).includes("pids");
}

/** Disables pids for the children of `unit` and moves `pid` back into it; returns a problem or undefined. */
function releaseV2(unit: string, pid: number): string | undefined {
  const problems: string[] = [];
  if (subtreeHasPids(unit)) {
    const off = writeValue(join(unit, "cgroup.subtree_control"), "-pids");
    if (off) problems.push(`cannot disable pids in ${unit} (${off})`);
  }
  const back = writeValue(join(unit, "cgroup.procs"), String(pid));
  if (back) problems.push(`cannot move the agent back to ${unit} (${back})`);
  removeDir(join(unit, AGENT_LEAF));
  removeDir(join(unit, WORK_LEAF));
  return problems.length > 0 ? problems.join("; ") : undefined;
}

/** v2: the agent into its own leaf, +pids for the children, the work group beside it. */
export function setupV2(h: PidsHierarchy, pid: number = process.pid): CgroupSetup {
  const unit = unitDirOf(h.dir);
  const controllers = (readText(join(unit, "cgroup.controllers")) ?? "").split(/\s+/);
  if (!controllers.includes("pids"))
    return { ok: false, reason: `the pids controller is not available in ${unit} (is the unit Delegate=yes?)` };
  const leaf = join(unit, AGENT_LEAF);
  const made = ensureDir(leaf);
  if (made) return { ok: false, reason: `cannot create ${leaf} (${made})` };
  const moved = writeValue(join(leaf, "cgroup.procs"), String(pid));
  if (moved) {
    removeDir(leaf);
    return { ok: false, reason: `cannot move the agent into ${leaf} (${moved})` };
  }
  const enabled = subtreeHasPids(unit) ? undefined : writeValue(join(unit, "cgroup.subtree_control"), "+pids");
  if (enabled) {
    releaseV2(unit, pid);
    const why = enabled === "EBUSY" ? "other processes share the agent's cgroup" : enabled;
    return { ok: false, reason: `cannot enable pids for ${unit}'s children (${why})` };
  }
  const setup = createWork(2, join(unit, WORK_LEAF), budgetAbove(unit, h.mountPoint), () => releaseV2(unit, pid));
  if (!setup.ok) releaseV2(unit, pid);
  return setup;
}

function ownHierarchies(): PidsHierarchy[] {
  const cgroups = parseProcCgroup(readText("/proc/self/cgroup") ?? "");
  const mounts = parseMountinfo(readText("/proc/self/mountinfo") ?? "");
  return locatePidsHierarchies(cgroups, mounts);
}

/** Finds the agent's pids hierarchy and creates the user-work cgroup in it; the reason when it cannot. */
export function setupWorkCgroup(): CgroupSetup {
  if (process.getuid?.() !== 0) return { ok: false, reason: "the agent is not running as root" };
  const hierarchies = ownHierarchies();
  if (hierarchies.length === 0) return { ok: false, reason: "no cgroup hierarchy with the pids controller is mounted" };
  const reasons: string[] = [];
  for (const h of hierarchies) {
    const setup = h.version === 1 ? setupV1(h) : setupV2(h);
    if (setup.ok) return setup;
    reasons.push(`cgroup v${h.version}: ${setup.reason}`);
  }
  return { ok: false, reason: reasons.join("; ") };
}

/**
 * For `alpamon cgroup-release` (ExecStartPre): run by systemd in the unit's `.control` subgroup, it turns
 * pids off for the unit's children so the main process can be placed in the unit's cgroup, which the
 * kernel refuses while a controller is enabled there. Leftover processes stay in `work`, unbounded until
 * the agent's setup sets the limit again a moment later. Returns what it did, or a problem.
 */
export function releaseDelegatedCgroup(hierarchies: PidsHierarchy[] = ownHierarchies()): {
  ok: boolean;
  changed: boolean;
  message: string;
} {
  const v2 = hierarchies.find((h) => h.version === 2);
  if (!v2) return { ok: true, changed: false, message: "no cgroup v2 hierarchy: nothing to release" };
  const unit = basename(v2.dir) === ".control" ? dirname(v2.dir) : v2.dir;
  if (!existsSync(join(unit, WORK_LEAF)) || !subtreeHasPids(unit))
    return { ok: true, changed: false, message: `nothing to release in ${unit}` };
  const off = writeValue(join(unit, "cgroup.subtree_control"), "-pids");
  if (off) return { ok: false, changed: false, message: `cannot disable pids in ${unit} (${off})` };
  return { ok: true, changed: true, message: `pids disabled for the children of ${unit}` };
}
