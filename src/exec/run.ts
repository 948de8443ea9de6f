// Runs one process for the agent: as the given identity (through the launch core, launch.ts: the user-work
// cgroup, uid, gid and the user's supplementary groups via setpriv --init-groups, the environment applied
// after the switch), with exactly the environment given, stdin from /dev/null, stdout and stderr merged
// in order into one pipe, output capped, and the whole process group killed on timeout or abort.
// Never runs a command string built from its arguments and never inherits the agent's environment.
import { ptr } from "bun:ffi";
import { closeSync } from "node:fs";
import { libc, O_CLOEXEC } from "../platform/libc.ts";
import { GroupStopper, launchCwd, launchFailure, planLaunch, spawnLaunch } from "./launch.ts";
import { OutputCollector } from "./output.ts";
import type { RunOptions, RunResult } from "./types.ts";

export const DEFAULT_MAX_OUTPUT_BYTES = 8 * 1024 * 1024;
/** What the launcher prints when it cannot start the target fits here (launchFailure reads it). */
const LAUNCH_HEAD_BYTES = 4096;
/** After the main process exits, how long output from leftover children (holding the pipe) is still read. */
const DRAIN_AFTER_EXIT_MS = 1_000;
/** A pipe whose write end becomes both stdout and stderr of the child, so their order is kept. */
function outputPipe(): { read: number; write: number } | undefined {
  const lib = libc();
  if (!lib) return undefined;
  const fds = new Int32Array(2);
  if (lib.pipe2(ptr(fds), O_CLOEXEC) !== 0) return undefined;
  return { read: fds[0]!, write: fds[1]! };
}

export async function runProcess(options: RunOptions): Promise<RunResult> {
  const maxOutput = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
  // The launch core: the user-work cgroup, the identity switch and the environment applied after it.
  const wrapped = planLaunch({ argv: options.argv, identity: options.identity, env: options.env });
  if ("error" in wrapped) return { exitCode: -1, output: "", omittedBytes: 0, timedOut: false, startError: wrapped.error };
  if (options.argv.length === 0 || !options.argv[0]) {
    return { exitCode: -1, output: "", omittedBytes: 0, timedOut: false, startError: "empty command" };
  }
  const dir = launchCwd(options.identity, options.cwd);
  if ("error" in dir) return { exitCode: -1, output: "", omittedBytes: 0, timedOut: false, startError: dir.error };
  const pipe = outputPipe();
  if (!pipe) return { exitCode: -1, output: "", omittedBytes: 0, timedOut: false, startError: "cannot create an output pipe" };

  let proc: Bun.Subprocess;
  try {
    // Its own session and process group (the launch core), so a timeout can kill everything it started.
    proc = spawnLaunch(wrapped, dir.cwd, {
      stdin: options.stdin === undefined ? "ignore" : new Blob([options.stdin]),
      stdout: pipe.write,
      stderr: pipe.write,
    });
  } catch (err) {
    closeSync(pipe.write);
    closeSync(pipe.read);
    const e = err as NodeJS.ErrnoException;
    const reason = e.code === "ENOENT" ? `${options.argv[0]}: command not found` : `${options.argv[0]}: ${e.message}`;
    return { exitCode: -1, output: "", omittedBytes: 0, timedOut: false, startError: reason };
  }
  closeSync(pipe.write);

  let timedOut = false;
  const stopper = new GroupStopper(proc.pid);
  const stop = () => stopper.stop();
  const timeout =
    options.timeoutMs !== undefined
      ? setTimeout(() => {
          timedOut = true;
          stop();
        }, options.timeoutMs)
      : undefined;
  const onAbort = () => stop();
  options.signal?.addEventListener("abort", onAbort, { once: true });
  if (options.signal?.aborted) stop();

  // Output beyond the caps is read and counted but never kept: the child is not stopped by a full pipe.
  let collected: OutputCollector | undefined = new OutputCollector(
    maxOutput,
    options.maxEncodedBytes ?? (options.identity ? maxOutput : undefined),
  );
  const keepOutput = options.keepOutput;
  // The start of the output, for launchFailure once the collector is let go (keepOutput).
  const head = keepOutput ? new OutputCollector(LAUNCH_HEAD_BYTES) : undefined;
  let total = 0;
  const reader = Bun.file(pipe.read).stream().getReader();
  const onOutput = options.onOutput;
  /** Time the pump spent waiting for onOutput (backpressure), and that wait while it lasts. */
  let throttledMs = 0;
  let throttle: Promise<void> | undefined;
  const pump = (async () => {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) return;
      total += value.length;
      head?.add(value);
      if (collected && keepOutput && !keepOutput()) collected = undefined;
      collected?.add(value);
      const wait = onOutput?.(value);
      if (wait) {
        const since = performance.now();
        throttle = wait;
        try {
          await wait;
        } finally {
          throttle = undefined;
          throttledMs += performance.now() - since;
        }
      }
    }
  })();

  const exitCode = await proc.exited;
  // Leftover background children may hold the pipe open; read what they wrote for a moment, then let go. Time
  // the reader was held back by onOutput does not count: what the process wrote before it exited is read.
  const exitedAt = performance.now();
  let drained = false;
  for (;;) {
    const left = exitedAt + DRAIN_AFTER_EXIT_MS + throttledMs - performance.now();
    if (left <= 0) {
      if (!throttle) break;
      await throttle.catch(() => {});
      continue;
    }
    // A timer cleared once the race is decided: a pending sleep would keep a short-lived process (the inventory
    // helper) alive for the rest of the window after its last child exited.
    let drainTimer: ReturnType<typeof setTimeout> | undefined;
    drained = await Promise.race([
      pump.then(
        () => true,
        () => true,
      ),
      new Promise<false>((resolve) => {
        drainTimer = setTimeout(() => resolve(false), left);
      }),
    ]);
    clearTimeout(drainTimer);
    if (drained) break;
  }
  if (!drained) await reader.cancel().catch(() => {});
  await pump.catch(() => {});
  try {
    closeSync(pipe.read);
  } catch {
    // already closed by the stream
  }
  if (timeout) clearTimeout(timeout);
  stopper.settle();
  options.signal?.removeEventListener("abort", onAbort);
  if (timedOut) stopper.kill();

  const { output, omittedBytes } = collected ? collected.finish() : { output: "", omittedBytes: total };
  const signal = proc.signalCode ? String(proc.signalCode) : undefined;
  // The launcher reports a failure to start the target itself (exit 125-127 and its own message).
  const launched = collected ? output : (head?.finish().output ?? "");
  const launchError = wrapped.argv !== options.argv && !signal ? launchFailure(launched, exitCode, options.argv[0] ?? "") : undefined;
  if (launchError) return { exitCode: -1, output: "", omittedBytes: 0, timedOut: false, startError: launchError };
  return {
    exitCode: signal || timedOut ? -1 : exitCode,
    output,
    omittedBytes,
    timedOut,
    ...(signal ? { signal } : {}),
  };
}
