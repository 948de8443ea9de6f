// Runs `shell: "system"` commands: as the named user (never a silent root), in a clean environment, with
// one timeout and one output cap for the whole line. Never logs the line or the env (they may hold
// secrets) and never starts a process except through exec/.
import type { Identity, RunProcess } from "../../exec/types.ts";
import type { IdentityResult } from "../../exec/identity.ts";
import { carryProblem } from "../../exec/launch.ts";
import type { Logger } from "../../log/logger.ts";
import { systemClock, type Clock } from "../../platform/clock.ts";
import { goDuration } from "../../platform/time.ts";
import type { SystemRunner } from "../../commands/dispatcher.ts";
import type { CommandResult } from "../../commands/registry.ts";
import type { OpenChunks } from "../../commands/chunks.ts";
import { parseCommandLine, runCommandList, type ListStep, type StepOutcome } from "./shell-line.ts";
import { OutputStream } from "./stream.ts";

/** 30 minutes, upstream's shell handler (upstream-2026 §2.4); `[commands] shell_timeout` overrides it. */
export const DEFAULT_SYSTEM_TIMEOUT_MS = 30 * 60 * 1000;
/** The fin's exit code when the line ran out of time, as coreutils' timeout(1) and upstream. */
const TIMED_OUT_EXIT_CODE = 124;
export const DEFAULT_SYSTEM_MAX_OUTPUT_BYTES = 8 * 1024 * 1024;

export interface SystemRunnerDeps {
  runProcess: RunProcess;
  resolveIdentity: (user: string, group: string | null | undefined) => Promise<IdentityResult>;
  userEnvironment: (identity: Identity, extra?: Record<string, string>) => Record<string, string>;
  /** For the whole line, not per process. Default 30 minutes. */
  timeoutMs?: number;
  /** For the whole line's combined output. Default 8 MiB. */
  maxOutputBytes?: number;
  log: Logger;
  clock?: Clock;
  /**
   * Streams the output of a command with an id (upstream-2026 §2.3), handed in by agent.ts; undefined for a
   * console that does not take chunks. Once the console is known to take them, the fin carries the audit copy
   * (first and last 512 KiB) instead of the output.
   */
  openChunks?: OpenChunks;
}

export const USER_REQUIRED = "system command: user is required (name root explicitly to run as root)";

/** Keeps at most `budget` bytes of UTF-8 without cutting a character; returns the kept text and the rest's size. */
function clip(text: string, budget: number): { text: string; omitted: number } {
  if (Buffer.byteLength(text) <= budget) return { text, omitted: 0 };
  const bytes = Buffer.from(text);
  let end = Math.max(0, budget);
  while (end > 0 && (bytes[end]! & 0xc0) === 0x80) end--;
  return { text: bytes.subarray(0, end).toString("utf8"), omitted: bytes.length - end };
}

/** How a process that never started reads, and the exit code sh would give it. */
function startFailure(argv0: string, error: string): StepOutcome {
  if (/command not found|ENOENT/.test(error)) {
    return { exitCode: 127, output: `${argv0}: command not found\n` };
  }
  return { exitCode: 126, output: `${error}\n` };
}

export function createSystemRunner(deps: SystemRunnerDeps): SystemRunner {
  const timeoutMs = deps.timeoutMs ?? DEFAULT_SYSTEM_TIMEOUT_MS;
  const maxOutputBytes = deps.maxOutputBytes ?? DEFAULT_SYSTEM_MAX_OUTPUT_BYTES;
  const clock = deps.clock ?? systemClock;
  const log = deps.log;

  return async (command, signal, ack): Promise<CommandResult> => {
    const started = clock.monotonic();
    const user = command.user ?? "";
    if (user.trim() === "") return { exitCode: 1, result: USER_REQUIRED };
    log.debug("running a system command", { command: command.id, user });

    const resolved = await deps.resolveIdentity(user, command.group || null);
    if (!resolved.ok) return { exitCode: 1, result: resolved.error };
    const identity = resolved.identity;
    const env = deps.userEnvironment(identity, command.env ?? {});
    // The edge refused loader variables already; this names the rest exec/ would refuse, once, up front.
    const envProblem = carryProblem(env);
    if (envProblem) return { exitCode: 1, result: `system command: ${envProblem}` };

    let list: ListStep[];
    if (command.allow_sh) {
      // An argument cannot hold a NUL; say so the way the parser does instead of a spawn error.
      const nul = command.line.indexOf("\0");
      if (nul >= 0) return { exitCode: 1, result: `system command: the line contains a NUL character at column ${nul + 1}` };
      list = [{ argv: ["/bin/sh", "-c", command.line], after: null }];
    } else {
      // Expansion sees exactly the environment the processes get: the command's env and the user's defaults.
      const parsed = parseCommandLine(command.line, env);
      if (!parsed.ok) return { exitCode: 1, result: `system command: ${parsed.error}` };
      list = parsed.list;
    }

    const chunks = command.id && ack !== undefined ? deps.openChunks?.(command.id, ack, signal) : undefined;
    const stream = chunks ? new OutputStream(chunks) : undefined;
    try {
      const done = await runLine(list, identity, env, signal, started, stream);
      log.debug("system command finished", { command: command.id, user, exitCode: done.exitCode });
      return done;
    } finally {
      await stream?.end();
    }
  };

  async function runLine(
    list: ListStep[],
    identity: Identity,
    env: Record<string, string>,
    signal: AbortSignal,
    started: number,
    stream: OutputStream | undefined,
  ): Promise<CommandResult> {
    const onOutput = stream ? (bytes: Uint8Array) => stream.write(bytes) : undefined;
    // Once the console takes the chunks, the fin carries the audit copy: the runner keeps no output of its own.
    const keepOutput = stream ? () => !stream.accepted() : undefined;
    const deadline = clock.monotonic() + timeoutMs;
    let kept = 0;
    let omitted = 0;
    let timedOut = false;
    let stopped = false;
    const runOne = async (argv: string[]): Promise<StepOutcome> => {
      const remaining = Math.ceil(deadline - clock.monotonic());
      if (remaining <= 0) timedOut = true;
      if (signal.aborted) stopped = true;
      if (timedOut || stopped) return { exitCode: -1, output: "", stop: true };
      const budget = maxOutputBytes - kept;
      const run = await deps.runProcess({
        argv,
        identity,
        env,
        timeoutMs: remaining,
        maxOutputBytes: budget,
        signal,
        ...(onOutput ? { onOutput } : {}),
        ...(keepOutput ? { keepOutput } : {}),
      });
      const outcome =
        run.startError !== undefined ? startFailure(argv[0] ?? "", run.startError) : { exitCode: run.exitCode, output: run.output };
      if (run.startError !== undefined) await stream?.writeText(outcome.output);
      if (run.signal && !run.timedOut && !signal.aborted) {
        const note = `\n[alpamon: ${argv[0]} was killed by ${run.signal}]\n`;
        outcome.output += note;
        await stream?.writeText(note);
      }
      const clipped = clip(outcome.output, budget);
      kept += Buffer.byteLength(clipped.text);
      omitted += run.omittedBytes + clipped.omitted;
      if (run.timedOut) timedOut = true;
      else if (signal.aborted) stopped = true;
      return { exitCode: outcome.exitCode, output: clipped.text, stop: timedOut || stopped };
    };

    const outcome = await runCommandList(list, runOne);
    let result = outcome.output;
    let exitCode = outcome.exitCode;
    if (stream) await stream.end();
    // The console shows the streamed output; the fin keeps an audit copy of the whole line (stream.ts). Until
    // the console is known to take chunks (its first one not answered yet, or 404), the fin carries the output
    // as without streaming.
    if (stream?.accepted()) result = stream.audit.text();
    else if (omitted > 0) result += `\n[alpamon: output truncated, ${omitted} bytes omitted]`;
    if (timedOut) {
      // Upstream's wording (upstream-2026 §2.4): the output so far, a blank line, then the banner.
      const banner = `Command timed out after ${goDuration(clock.monotonic() - started)}`;
      result = result ? `${result}\n\n${banner}` : banner;
      exitCode = TIMED_OUT_EXIT_CODE;
    } else if (stopped) {
      result += "\n[alpamon: stopped because the agent is shutting down]";
      exitCode = -1;
    }
    return { exitCode, result };
  }
}
