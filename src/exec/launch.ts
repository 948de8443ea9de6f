// The one launch core for run, worker and pty: how a process is started as an identity (planLaunch), where
// (launchCwd), in its own session (spawnLaunch) and how it is stopped (escalateKill). Three hops, each a
// fixed program with a fixed script; console data only ever travels as separate argv elements or values:
//
//   [/bin/sh JOIN <work>/cgroup.procs]   root: moves itself into the user-work cgroup, then execs on
//   setpriv --reuid --regid --init-groups  root: the identity switch
//   /bin/sh IMPORT KEY... -- argv          the user: applies the command's environment, then execs argv
//
// Why the environment is applied only after the drop: setpriv (and the joining shell) run as root without
// AT_SECURE, so the dynamic loader and libc honour LD_PRELOAD, GCONV_PATH, GLIBC_TUNABLES and friends in
// them, and a shell honours SHELLOPTS/PS4 and the like. Filtering a deny-list cannot be complete (any
// library may read a variable; secure_getenv hides them from setuid programs only), so the root side gets a
// FIXED minimal environment (LAUNCH_ENV) plus the command's values under the inert prefix CARRIED_PREFIX,
// a name nothing on the root side reads. The importing shell runs as the user, renames each one to its
// real name and execs the target, whose environ is then exactly the command's environment.
// Why not `env -i KEY=VALUE... cmd` after the drop: the values would sit in env(1)'s argv, which every
// local user can read in /proc/<pid>/cmdline for as long as env(1) runs; environ is owner-only. The
// price of the shell: a few names a POSIX shell manages itself cannot be carried exactly (SHELL_MANAGED).
import { existsSync } from "node:fs";
import { environmentProblem } from "./environment.ts";
import type { Identity } from "./types.ts";

const SETPRIV_PATHS = ["/usr/bin/setpriv", "/bin/setpriv"];
const SH = "/bin/sh";
/** All that the root side of a launch ever sees of an environment (besides the inert carried values). */
export const LAUNCH_ENV: Readonly<Record<string, string>> = { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", LANG: "C.UTF-8" };
export const CARRIED_PREFIX = "__ALPAMON_ENV_";
const IMPORT_NAME = "alpamon-exec";
const JOIN_NAME = "alpamon-cgroup";
/** The exit status of JOIN when the cgroup cannot be joined (the process never runs then). */
const JOIN_FAILED = 125;

/**
 * Names a POSIX shell manages itself: bash makes some read-only (the import would fail), resets others
 * (SHLVL, RANDOM, SECONDS, ...), and dash only accepts a number for OPTIND. Refused with a clear error
 * rather than silently changed; refusing them costs nothing real.
 */
const SHELL_MANAGED = new Set([
  "BASHOPTS",
  "BASHPID",
  "BASH_ARGV0",
  "BASH_VERSINFO",
  "EPOCHREALTIME",
  "EPOCHSECONDS",
  "EUID",
  "LINENO",
  "OPTIND",
  "PPID",
  "RANDOM",
  "SECONDS",
  "SHELLOPTS",
  "SHLVL",
  "SRANDOM",
  "UID",
  "_",
]);

/**
 * Runs as the user. $1..: the variable names, then "--", then argv. PATH, LANG and PWD come from the root
 * side (LAUNCH_ENV, the shell's own PWD) and are dropped first; each name is checked again before eval, so
 * the eval only ever sees `export "$1=${__ALPAMON_ENV_NAME}"` for a plain identifier NAME. No variable of
 * the script's own, so no name the command uses can collide with one.
 */
const IMPORT_SCRIPT = [
  "unset PATH LANG PWD",
  'while [ "$1" != -- ]; do',
  '  case $1 in ""|[0-9]*|*[!A-Za-z0-9_]*) echo "alpamon-exec: bad variable name" >&2; exit 126;; esac',
  `  eval "export \\"\\$1=\\\${${CARRIED_PREFIX}$1}\\"; unset ${CARRIED_PREFIX}$1"`,
  "  shift",
  "done",
  "shift",
  'exec "$@"',
].join("\n");

/** Runs as root. $1: the work cgroup's cgroup.procs; writing 0 moves the writing process itself. */
const JOIN_SCRIPT = `{ echo 0 > "$1"; } 2>/dev/null || { echo "${JOIN_NAME}: cannot join $1" >&2; exit ${JOIN_FAILED}; }\nshift\nexec "$@"`;

/**
 * Where processes started as an identity are placed: the cgroup.procs file of the user-work cgroup, or
 * undefined for "where the agent is". Set once by the composition root at start (and cleared at stop);
 * the launch sites (run, worker, pty) are reached through plain functions from many capabilities.
 */
let workProcs: string | undefined;

export function placeUserWorkIn(procsFile: string | undefined): void {
  workProcs = procsFile;
}

export interface LaunchPlan {
  argv: string[];
  env: Record<string, string>;
}

export interface LaunchRequest {
  argv: string[];
  identity: Identity | undefined;
  env: Record<string, string>;
  /** Defaults: the agent's uid, the placement set at start, the setpriv found on this system, /bin/sh. */
  agentUid?: number | undefined;
  workProcs?: string | undefined;
  setpriv?: string | undefined;
  shell?: string;
  /**
   * Supplementary groups after the switch: the user's own (initgroups, the default) or none at all (a helper
   * that must hold no group's rights, such as the tunnel relay as nobody).
   */
  groups?: "init" | "clear";
}

function findSetpriv(): string | undefined {
  return SETPRIV_PATHS.find((p) => existsSync(p));
}

/** Why this environment cannot be carried across the identity switch, or undefined. */
export function carryProblem(env: Record<string, string>): string | undefined {
  const problem = environmentProblem(env);
  if (problem) return problem;
  for (const key of Object.keys(env)) {
    if (SHELL_MANAGED.has(key)) return `env: key ${JSON.stringify(key)} is managed by the shell and cannot be set`;
    if (key.startsWith(CARRIED_PREFIX)) return `env: key ${JSON.stringify(key)} is reserved for the agent`;
  }
  return undefined;
}

/** The command's environment under inert names, on top of the fixed launcher environment. */
function carriedEnvironment(env: Record<string, string>): Record<string, string> {
  const carried: Record<string, string> = { ...LAUNCH_ENV };
  for (const [key, value] of Object.entries(env)) carried[CARRIED_PREFIX + key] = value;
  return carried;
}

/** The argv and environment to spawn for `request`, or why it must not be started. */
export function planLaunch(request: LaunchRequest): LaunchPlan | { error: string } {
  const { argv, identity, env } = request;
  const problem = environmentProblem(env);
  if (problem) return { error: problem };
  if (!identity) return { argv, env };
  const agentUid = "agentUid" in request ? request.agentUid : process.getuid?.();
  if (agentUid !== 0) {
    if (identity.uid === agentUid) return { argv, env };
    return { error: `cannot run as ${identity.user}: the agent is not running as root` };
  }
  const carry = carryProblem(env);
  if (carry) return { error: carry };
  const setpriv = "setpriv" in request ? request.setpriv : findSetpriv();
  if (!setpriv) return { error: "setpriv (util-linux) is needed to run as another user and was not found" };
  // bash's exec takes options, dash's takes no "--": a program name starting with '-' cannot be exec'd by both.
  if (argv[0]?.startsWith("-")) return { error: `${argv[0]}: a program name cannot start with '-'` };
  const procs = "workProcs" in request ? request.workProcs : workProcs;
  const sh = request.shell ?? SH;
  const join = procs ? [sh, "-c", JOIN_SCRIPT, JOIN_NAME, procs] : [];
  const drop = [
    setpriv,
    `--reuid=${identity.uid}`,
    `--regid=${identity.gid}`,
    request.groups === "clear" ? "--clear-groups" : "--init-groups",
    "--",
  ];
  const load = [sh, "-c", IMPORT_SCRIPT, IMPORT_NAME, ...Object.keys(env), "--"];
  return { argv: [...join, ...drop, ...load, ...argv], env: carriedEnvironment(env) };
}

/** Whether a process's argv is one of the launcher's own shell hops (not yet the program it starts). */
export function isLauncherHop(argv: string[]): boolean {
  return argv[1] === "-c" && (argv[3] === IMPORT_NAME || argv[3] === JOIN_NAME);
}

/**
 * When a launched process ended before its program ran, why (from the launcher's own message), else
 * undefined. Covers the three hops: joining the cgroup, setpriv, and the importing shell's exec (dash:
 * "alpamon-exec: 8: exec: x: not found", bash: "alpamon-exec: line 8: exec: x: cannot execute: ...").
 */
export function launchFailure(output: string, exitCode: number, argv0: string): string | undefined {
  const first = output.split("\n", 1)[0] ?? "";
  if (exitCode === JOIN_FAILED && first.startsWith(`${JOIN_NAME}: cannot join `)) {
    return `cannot place the process in the user-work cgroup (${first.slice(`${JOIN_NAME}: cannot join `.length)})`;
  }
  if (exitCode !== 126 && exitCode !== 127) return undefined;
  const setprivFailure = /^setpriv: failed to execute (.*)$/.exec(first);
  if (setprivFailure) return /No such file or directory/.test(first) ? `${argv0}: command not found` : setprivFailure[1];
  if (!first.startsWith(`${IMPORT_NAME}: `)) return undefined;
  if (exitCode === 127) return `${argv0}: command not found`;
  const execLine = output.split("\n").find((line) => /^alpamon-exec: (?:line )?\d+: exec: /.test(line));
  if (execLine) return execLine.replace(/^alpamon-exec: (?:line )?\d+: exec: /, "").replace(": cannot execute: ", ": ");
  return first.slice(IMPORT_NAME.length + 2);
}

// Starting and stopping a launch: the same working directory rule, session and kill escalation for run,
// worker and pty.

/** How long run and worker give a launch asked to stop (SIGTERM) before SIGKILL. */
export const KILL_GRACE_MS = 5_000;
const KILL_POLL_MS = 50;

/**
 * The working directory of a launch: the one asked for, else the identity's home when it exists, else "/"
 * (system accounts often have a home that does not exist: nobody's /nonexistent). A directory that does not
 * exist is an error, never a silent fallback.
 */
export function launchCwd(identity: Identity | undefined, cwd?: string): { cwd: string } | { error: string } {
  const home = identity?.home;
  const chosen = cwd ?? (home && existsSync(home) ? home : "/");
  return existsSync(chosen) ? { cwd: chosen } : { error: `working directory ${chosen} does not exist` };
}

/** The spawn options a launch site chooses: its stdio or terminal, argv0. The rest is the core's. */
export type LaunchIo<In extends Bun.Spawn.Writable, Out extends Bun.Spawn.Readable, Err extends Bun.Spawn.Readable> = Omit<
  Bun.Spawn.SpawnOptions<In, Out, Err>,
  "cwd" | "env" | "detached" | "uid" | "gid"
>;

/**
 * Spawns a planned launch in `cwd` as the leader of its own session and process group, so that a kill
 * reaches everything it started: `detached` (setsid) for a launch on pipes; a launch on a terminal already
 * gets a session from Bun, with the terminal as its controlling tty. Throws what Bun.spawn throws.
 */
export function spawnLaunch<
  const In extends Bun.Spawn.Writable = "ignore",
  const Out extends Bun.Spawn.Readable = "pipe",
  const Err extends Bun.Spawn.Readable = "inherit",
>(plan: LaunchPlan, cwd: string, io: LaunchIo<In, Out, Err>): Bun.Subprocess<In, Out, Err> {
  return Bun.spawn<In, Out, Err>(plan.argv, { ...io, cwd, env: plan.env, ...(io.terminal ? {} : { detached: true }) });
}

/** Delivers a signal to every process of a launch; a target that is already gone is no error. */
export type SignalTarget = (signal: NodeJS.Signals) => void;

/** The process group a launch on pipes leads (spawnLaunch made it the leader). */
export function processGroup(pid: number): SignalTarget {
  return (signal) => {
    try {
      process.kill(-pid, signal);
    } catch {
      // the group is already gone
    }
  };
}

export interface Escalation {
  /** The polite signal sent first. Default SIGTERM. */
  first?: NodeJS.Signals;
  graceMs: number;
  /** True once nothing is left to kill; checked until the grace period ends. */
  gone: () => boolean;
}

/** The one kill escalation: `first` to the whole target now, SIGKILL after the grace unless it is gone by then. */
export async function escalateKill(target: SignalTarget, { first = "SIGTERM", graceMs, gone }: Escalation): Promise<void> {
  target(first);
  const deadline = performance.now() + graceMs;
  while (!gone() && performance.now() < deadline) await Bun.sleep(Math.min(KILL_POLL_MS, Math.max(1, deadline - performance.now())));
  if (!gone()) target("SIGKILL");
}

/**
 * The stop switch of a launch on pipes (run, worker): every stop() sends SIGTERM to its group; the first also
 * escalates to SIGKILL after the grace period unless the launch is settled by then.
 */
export class GroupStopper {
  private escalation: Promise<void> | undefined;
  private settled = false;
  private readonly group: SignalTarget;

  constructor(
    pid: number,
    private readonly graceMs = KILL_GRACE_MS,
  ) {
    this.group = processGroup(pid);
  }

  stop(): void {
    if (this.escalation) this.group("SIGTERM");
    else this.escalation = escalateKill(this.group, { graceMs: this.graceMs, gone: () => this.settled });
  }

  /** The launch is over: a pending escalation sends no SIGKILL. */
  settle(): void {
    this.settled = true;
  }

  /** SIGKILL to the whole group now (leftovers of a launch that timed out). */
  kill(): void {
    this.group("SIGKILL");
  }
}
