// Starts a long-lived helper process with streaming pipes (the file worker): as the given identity through
// the launch core (launch.ts: user-work cgroup, setpriv --init-groups, the environment applied after the
// switch), with exactly the environment given, in its own process group. Never runs a command string built
// from its arguments; never inherits the agent's environment.
import { existsSync } from "node:fs";
import { planLaunch } from "./launch.ts";
import type { Identity } from "./types.ts";

const KILL_GRACE_MS = 5_000;

export interface WorkerOptions {
  argv: string[];
  /** Undefined runs as the agent itself. */
  identity?: Identity;
  env: Record<string, string>;
  cwd?: string;
  /** "pipe" for a writable stdin, a stream to feed it, or "ignore". */
  stdin: "pipe" | "ignore" | ReadableStream<Uint8Array>;
}

export interface Worker {
  pid: number;
  stdin: import("bun").FileSink | undefined;
  stdout: ReadableStream<Uint8Array>;
  stderr: ReadableStream<Uint8Array>;
  exited: Promise<number>;
  /** SIGTERM to the whole group, SIGKILL after a grace period if it is still there. */
  kill(): void;
}

export type SpawnWorker = (options: WorkerOptions) => Worker | { error: string };

export const spawnWorker: SpawnWorker = (options) => {
  const plan = planLaunch({ argv: options.argv, identity: options.identity, env: options.env });
  if ("error" in plan) return plan;
  const home = options.identity?.home;
  const cwd = options.cwd ?? (home && existsSync(home) ? home : "/");
  let proc: ReturnType<typeof Bun.spawn>;
  try {
    proc = Bun.spawn(plan.argv, { cwd, env: plan.env, stdin: options.stdin, stdout: "pipe", stderr: "pipe", detached: true });
  } catch (err) {
    return { error: `${options.argv[0]}: ${(err as Error).message}` };
  }
  let killTimer: ReturnType<typeof setTimeout> | undefined;
  const signalGroup = (signal: "SIGTERM" | "SIGKILL") => {
    try {
      process.kill(-proc.pid, signal);
    } catch {
      // already gone
    }
  };
  const exited = proc.exited.then((code) => {
    if (killTimer) clearTimeout(killTimer);
    return code;
  });
  return {
    pid: proc.pid,
    stdin: options.stdin === "pipe" ? (proc.stdin as import("bun").FileSink) : undefined,
    stdout: proc.stdout as ReadableStream<Uint8Array>,
    stderr: proc.stderr as ReadableStream<Uint8Array>,
    exited,
    kill() {
      signalGroup("SIGTERM");
      killTimer ??= setTimeout(() => signalGroup("SIGKILL"), KILL_GRACE_MS);
    },
  };
};
