// Starts a long-lived helper process with streaming pipes (the file worker): as the given identity through
// the launch core (launch.ts: user-work cgroup, setpriv --init-groups, the environment applied after the
// switch), with exactly the environment given, in its own process group. Never runs a command string built
// from its arguments; never inherits the agent's environment.
import { GroupStopper, launchCwd, planLaunch, spawnLaunch } from "./launch.ts";
import type { Identity } from "./types.ts";

export interface WorkerOptions {
  argv: string[];
  /** Undefined runs as the agent itself. */
  identity?: Identity;
  env: Record<string, string>;
  /** Default the identity's home when it exists, else "/"; an explicit one must exist. */
  cwd?: string;
  /** "pipe" for a writable stdin, a stream to feed it, or "ignore". */
  stdin: "pipe" | "ignore" | ReadableStream<Uint8Array>;
  /** Supplementary groups: the identity's own (default) or none (see LaunchRequest.groups). */
  groups?: "init" | "clear";
  /** SIGTERM-to-SIGKILL grace of kill(); default KILL_GRACE_MS. */
  killGraceMs?: number;
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
  const plan = planLaunch({
    argv: options.argv,
    identity: options.identity,
    env: options.env,
    ...(options.groups ? { groups: options.groups } : {}),
  });
  if ("error" in plan) return plan;
  const dir = launchCwd(options.identity, options.cwd);
  if ("error" in dir) return dir;
  let proc: Bun.Subprocess<WorkerOptions["stdin"], "pipe", "pipe">;
  try {
    proc = spawnLaunch(plan, dir.cwd, { stdin: options.stdin, stdout: "pipe", stderr: "pipe" });
  } catch (err) {
    return { error: `${options.argv[0]}: ${(err as Error).message}` };
  }
  const stopper = new GroupStopper(proc.pid, options.killGraceMs);
  const exited = proc.exited.then((code) => {
    stopper.settle();
    return code;
  });
  return {
    pid: proc.pid,
    stdin: options.stdin === "pipe" ? (proc.stdin as import("bun").FileSink) : undefined,
    stdout: proc.stdout,
    stderr: proc.stderr,
    exited,
    kill() {
      stopper.stop();
    },
  };
};
