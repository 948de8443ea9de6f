// Starts a process on a new pseudo-terminal (Bun's built-in terminal: raw bytes, no polling) as a user with
// the user's supplementary groups (the launch core, launch.ts: setpriv --init-groups, because Bun's uid/gid
// option resets them; the user-work cgroup; the environment applied after the switch), and ends it by
// signalling its whole session. Never runs a shell command string built from console data.
import { closeSync, constants, existsSync, fstatSync, openSync, readdirSync, readFileSync } from "node:fs";
import { libc, O_CLOEXEC, TCOOFF, TCOON, TCXONC } from "../platform/libc.ts";
import { escalateKill, launchCwd, planLaunch, type SignalTarget, spawnLaunch } from "./launch.ts";
import type { Identity } from "./types.ts";

/**
 * A fixed trampoline: `exec -a -<name> <shell>`; the shell path arrives as $0, never inside the script. Run as the
 * user after the launcher's hops, it first tells the agent so with one byte on STARTED_FD (when the shell can be
 * executed), and the exec closes that fd: the shell never inherits it.
 */
// biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansion in a script run by sh, not a template literal
const LOGIN_TRAMPOLINE = '[ -x "$0" ] && printf . >&3; exec -a "-${0##*/}" "$0" 3>&-';
/** The same for a system without bash: `-l` asks the shell for a login shell. */
const SH_TRAMPOLINE = '[ -x "$0" ] && printf . >&3; exec "$0" -l 3>&-';
/** The descriptor of the trampoline's byte (the fourth stdio entry of the spawn). */
const STARTED_FD = 3;
const IXON = 0o2000;
const XOFF = "\x13";
const XON = "\x11";
/** The major device number of every Unix98 PTY slave (/dev/pts/<minor>). */
const PTS_MAJOR = 136;

export interface PtyOptions {
  /** Absolute path of the shell to run as a login shell (argv0 "-<name>"). */
  shell: string;
  /** Undefined runs as the agent itself. */
  identity?: Identity;
  /** The complete environment: nothing is inherited from the agent. */
  env: Record<string, string>;
  /** Default the identity's home when it exists, else "/"; an explicit one must exist. */
  cwd?: string;
  rows: number;
  cols: number;
  onData: (bytes: Uint8Array) => void;
  /** The PTY reached end of file (every holder of the terminal closed it). */
  onEof?: () => void;
  /** How long start() waits for the shell to replace the setpriv wrapper. Default 5 s. */
  startTimeoutMs?: number;
}

export interface PtyProcess {
  readonly pid: number;
  /** Resolves with the shell's exit code (-1 when it died of a signal). */
  readonly exited: Promise<number>;
  write(bytes: Uint8Array | string): void;
  resize(cols: number, rows: number): void;
  /** Flow control: stop the terminal's output so writers block in the kernel, not in our memory. Idempotent. */
  pause(): void;
  resume(): void;
  /** SIGHUP to every process of the terminal's session, SIGKILL after `graceMs`; resolves once reaped. */
  kill(graceMs: number): Promise<void>;
}

export type PtyStart = { ok: true; pty: PtyProcess } | { ok: false; error: string };

/** What to spawn so that `shell` is a login shell (argv0 "-name"), as `identity` with its supplementary groups. */
export function ptyArgv(
  shell: string,
  identity: Identity | undefined,
  agentUid: number | undefined,
  env: Record<string, string>,
): { argv: string[]; argv0?: string; env: Record<string, string>; signalsStart?: true } | { error: string } {
  const name = shell.split("/").pop() || "sh";
  if (identity && agentUid !== 0 && identity.uid !== agentUid) {
    return { error: `cannot run a terminal as ${identity.user}: the agent is not running as root` };
  }
  if (!identity || agentUid !== 0) {
    const plan = planLaunch({ argv: [shell], identity: undefined, env });
    return "error" in plan ? plan : { ...plan, argv0: `-${name}` };
  }
  // setpriv cannot set argv0; bash's `exec -a` can.
  const target = existsSync("/bin/bash") ? ["/bin/bash", "-c", LOGIN_TRAMPOLINE, shell] : ["/bin/sh", "-c", SH_TRAMPOLINE, shell];
  const plan = planLaunch({ argv: target, identity, env, agentUid });
  return "error" in plan ? plan : { ...plan, signalsStart: true };
}

/** Every pid whose session id is `sid` (the terminal's session leader is the shell). */
export function sessionPids(sid: number): number[] {
  const pids: number[] = [];
  let entries: string[];
  try {
    entries = readdirSync("/proc");
  } catch {
    return pids;
  }
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // Fields after the parenthesised command: state ppid pgrp session …
      const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(rest[3]) === sid && rest[0] !== "Z") pids.push(Number(entry));
    } catch {
      // the process went away while we looked
    }
  }
  return pids;
}

/** Every process of the terminal's session: its process group and whatever left the group but not the session. */
function terminalSession(sid: number): SignalTarget {
  return (signal) => {
    for (const target of new Set([-sid, ...sessionPids(sid)])) {
      try {
        process.kill(target, signal);
      } catch {
        // already gone
      }
    }
  };
}

/**
 * The path of the shell's controlling terminal, /dev/pts/N, for tcflow; undefined when it cannot be identified
 * (the device opened there must be the one /proc gives for the shell).
 */
function slaveOf(pid: number): string | undefined {
  let ttyNr: number;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    ttyNr = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[4]);
  } catch {
    return undefined;
  }
  const major = (ttyNr >> 8) & 0xfff;
  const minor = (ttyNr & 0xff) | ((ttyNr >> 12) & 0xfff00);
  if (major !== PTS_MAJOR) return undefined;
  const path = `/dev/pts/${minor}`;
  const fd = openSlave(path);
  if (fd === undefined) return undefined;
  try {
    return fstatSync(fd).rdev === ttyNr ? path : undefined;
  } finally {
    closeSync(fd);
  }
}

function openSlave(path: string): number | undefined {
  try {
    // O_NOCTTY: the agent may be a session leader without a terminal (a systemd service is one).
    return openSync(path, constants.O_RDWR | constants.O_NOCTTY | constants.O_NONBLOCK | O_CLOEXEC);
  } catch {
    return undefined;
  }
}

/**
 * tcflow(3) on the PTY's slave side: TCOOFF stops the terminal's output as XOFF would, but needs no IXON in the
 * program's modes, survives a keystroke (IXANY) and the program's own mode changes, and only TCOON undoes it. The
 * program's termios are never touched, so a shell that saves its modes meanwhile saves its own.
 */
function tcflow(slave: string, action: typeof TCOOFF | typeof TCOON): boolean {
  const lib = libc();
  if (!lib) return false;
  const fd = openSlave(slave);
  if (fd === undefined) return false;
  try {
    return lib.ioctl(fd, TCXONC, action) === 0;
  } finally {
    closeSync(fd);
  }
}

/**
 * Waits for the trampoline's byte on `fd` (then closes it): "started" once the launcher's hops are done, "failed"
 * when the fd reached end of file without it (a hop failed and exited), "timeout" after `timeoutMs` (then `kill`).
 * Event-driven: the socket's readability, one timer for the limit.
 */
async function trampolineReached(fd: number, timeoutMs: number, kill: () => void): Promise<"started" | "failed" | "timeout"> {
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    kill();
  }, timeoutMs);
  let seen = false;
  try {
    // Read to the end: the exec closes fd 3 right after the byte, and a process that dies closes it too.
    for await (const chunk of Bun.file(fd).stream()) if (chunk.length > 0) seen = true;
  } catch {
    // a read error is a start that did not signal
  } finally {
    clearTimeout(timer);
    try {
      closeSync(fd);
    } catch {
      // already closed
    }
  }
  if (timedOut) return "timeout";
  return seen ? "started" : "failed";
}

/**
 * Spawns the shell and resolves once it runs (as the user: the launcher's hops and the identity switch are done and
 * the trampoline execs the shell), or with the real error.
 */
export async function startPty(options: PtyOptions): Promise<PtyStart> {
  const plan = ptyArgv(options.shell, options.identity, process.getuid?.(), options.env);
  if ("error" in plan) return { ok: false, error: plan.error };
  const dir = launchCwd(options.identity, options.cwd);
  if ("error" in dir) return { ok: false, error: dir.error };
  let early = "";
  let sawEof!: () => void;
  const ptyEof = new Promise<void>((resolve) => (sawEof = resolve));
  let proc: Bun.Subprocess;
  try {
    // On a terminal, the shell leads a new session with the terminal as its controlling tty (spawnLaunch).
    proc = spawnLaunch(plan, dir.cwd, {
      ...(plan.argv0 ? { argv0: plan.argv0 } : {}),
      // fd STARTED_FD: a socket pair whose other end Bun hands back as proc.stdio[STARTED_FD].
      ...(plan.signalsStart ? { stdio: ["ignore", "ignore", "ignore", "pipe"] as const } : {}),
      terminal: {
        cols: options.cols,
        rows: options.rows,
        name: options.env.TERM ?? "xterm-256color",
        data: (_t, bytes) => {
          if (early.length < 4096) early += Buffer.from(bytes).toString("utf8");
          options.onData(bytes);
        },
        exit: () => {
          sawEof();
          options.onEof?.();
        },
      },
    });
  } catch (err) {
    return { ok: false, error: `${options.shell}: ${(err as Error).message}` };
  }
  const terminal = proc.terminal!;
  const session = terminalSession(proc.pid);
  const exited = proc.exited.then((code) => (proc.signalCode ? -1 : code));
  let done = false;
  void exited.then(() => (done = true));

  // Without the identity switch Bun itself executes the shell (a failure throws above); with it, the trampoline says
  // when the hops are done. No polling of /proc while the hops run.
  const timeoutMs = options.startTimeoutMs ?? 5_000;
  const started = plan.signalsStart
    ? await trampolineReached(proc.stdio[STARTED_FD] as unknown as number, timeoutMs, () => session("SIGKILL"))
    : "started";
  if (started !== "started" || done) {
    // The launcher's own message is in the terminal's output: wait for the terminal's end of file (bounded).
    await Promise.race([Promise.all([exited, ptyEof]), Bun.sleep(200)]);
    if (!done) session("SIGKILL");
    terminal.close();
    const message = /(?:setpriv|bash|alpamon-exec|alpamon-cgroup): [^\r\n]*/.exec(early)?.[0];
    if (message) return { ok: false, error: message.replace(/^setpriv: failed to execute /, "cannot start ") };
    // The trampoline's own exec (its messages start with the shell's path, its $0): "exec: <shell>: cannot
    // execute: <reason>", or from bash for a missing file "<$0>: line 1: <shell>: No such file or directory".
    const exec = /\bexec: ([^\r\n]*)/.exec(early)?.[1] ?? /: line \d+: ([^\r\n]*)/.exec(early)?.[1];
    if (exec) return { ok: false, error: `cannot start ${exec.replace(": cannot execute: ", ": ")}` };
    return {
      ok: false,
      error: started === "timeout" ? `${options.shell} did not start within ${timeoutMs} ms` : `${options.shell} exited at once`,
    };
  }

  const slave = libc() ? slaveOf(proc.pid) : undefined;
  /** How the output is stopped right now: tcflow on the slave, or (when that is unavailable) the XOFF byte. */
  let stopped: "tcflow" | "xoff" | undefined;
  const pty: PtyProcess = {
    pid: proc.pid,
    exited,
    write(bytes) {
      if (!terminal.closed) terminal.write(bytes);
    },
    resize(cols, rows) {
      terminal.resize(cols, rows);
    },
    pause() {
      if (terminal.closed || stopped === "tcflow") return;
      if (slave && tcflow(slave, TCOOFF)) {
        stopped = "tcflow";
        return;
      }
      // Without tcflow, only XOFF is left: honoured while the program keeps IXON on (a raw-mode program that
      // turned it off is not throttled), and re-sent on every call because a keystroke restarts the tty (IXANY).
      // Never written with IXON off, where it would reach the program as input.
      if (terminal.inputFlags & IXON) {
        terminal.write(XOFF);
        stopped = "xoff";
      }
    },
    resume() {
      if (terminal.closed || !stopped) return;
      const how = stopped;
      stopped = undefined;
      if (how === "tcflow") tcflow(slave!, TCOON);
      else if (terminal.inputFlags & IXON) terminal.write(XON);
    },
    async kill(graceMs) {
      // Leftovers that ignore SIGHUP (nohup, trap) in the same session get SIGKILL after the grace period.
      await escalateKill(session, { first: "SIGHUP", graceMs, gone: () => done && sessionPids(proc.pid).length === 0 });
      await exited;
      terminal.close();
    },
  };
  return { ok: true, pty };
}
