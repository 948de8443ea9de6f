// The contract of exec/, the only place that starts processes: who runs it, with what environment, how
// long, and how much output is kept. Callers pass argv arrays; nothing here ever goes through a shell.

/** Who a process runs as: uid, the chosen gid, and supplementary groups by initgroups(3) (NSS-aware). */
export interface Identity {
  user: string;
  uid: number;
  /** The process's gid: the requested group, which must be one of the user's groups. */
  gid: number;
  home: string;
  /** Login shell from passwd ("" when none). */
  shell: string;
}

export interface RunOptions {
  /** argv[0] is looked up in env.PATH (as the target user). */
  argv: string[];
  /** Undefined runs as the agent itself (root); callers decide that explicitly. */
  identity?: Identity;
  /** The complete environment: nothing is inherited from the agent. */
  env: Record<string, string>;
  /** Working directory; default the identity's home when it exists, else "/". An explicit one must exist. */
  cwd?: string;
  /** Kill the whole process group after this long (SIGTERM, then SIGKILL 5 s later). Default: none. */
  timeoutMs?: number;
  /** Combined stdout+stderr kept at most (in order); the rest is counted, not kept. Default 8 MiB. */
  maxOutputBytes?: number;
  /**
   * The kept output's size once decoded (invalid UTF-8 as U+FFFD) and JSON-escaped is at most this, so it fits
   * the fin that carries it: a NUL byte costs 6, a quote 2. Default: maxOutputBytes for a process run with an
   * identity (a user's command: its output goes to the console), no limit for the agent's own tools.
   */
  maxEncodedBytes?: number;
  /** Bytes for stdin; default /dev/null. */
  stdin?: string | Uint8Array;
  /** Aborting kills the process group like a timeout. */
  signal?: AbortSignal;
  /**
   * Sees every piece of the merged output as it is read, in write order. A returned promise is awaited before
   * the pipe is read again (backpressure: the child blocks on a full pipe meanwhile); that wait does not count
   * against the drain window after the process exits.
   */
  onOutput?: (bytes: Uint8Array) => void | Promise<void>;
  /**
   * Asked before each piece of output is kept. Once it returns false (the caller keeps its own copy: the
   * console took the streamed output), nothing more is kept and what was kept is let go: `output` is then ""
   * and every byte counts as omitted. It is not asked again.
   */
  keepOutput?: () => boolean;
}

export interface RunResult {
  /** Exit status; -1 when killed by a signal, timed out or not started. */
  exitCode: number;
  /** The combined output (UTF-8, invalid bytes replaced), at most maxOutputBytes. */
  output: string;
  /** Output bytes produced and not kept (beyond maxOutputBytes or maxEncodedBytes). */
  omittedBytes: number;
  timedOut: boolean;
  /** The signal that ended the process, if any (e.g. "SIGKILL"). */
  signal?: string;
  /** Why the process could not be started (then exitCode is -1 and output is empty). */
  startError?: string;
}

export type RunProcess = (options: RunOptions) => Promise<RunResult>;
