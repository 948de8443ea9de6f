// The dispatcher: for every command from the console it acks on receipt, checks an internal command's data
// against its spec's schema once, runs it in isolation (an exception becomes a failed fin, never a crash) under
// its spec's timeout, caps the result, and fins with the elapsed time.
// It never runs a command id twice within the de-duplication window and never starts more than the limit at once.
// What it cannot hold it refuses with a fin (a full waiting queue); what it cannot record (a full state disk)
// it answers directly. Every command it acknowledges gets a fin.
import type { CommandEnvelope } from "../console/protocol.ts";
import { decodeCommandData } from "../console/protocol.ts";
import { describeError, diskFullCode } from "../db/errors.ts";
import type { Logger } from "../log/logger.ts";
import { LogThrottle } from "../log/throttle.ts";
import type { Clock } from "../platform/clock.ts";
import { goDuration } from "../platform/time.ts";
import type { CommandFeedback, FinBody } from "./feedback.ts";
import { splitInternalLine } from "./line.ts";
import { type CommandContext, type CommandResult, invoke } from "./contract.ts";
import type { CommandRegistry } from "./registry.ts";
import { capResult, DEFAULT_MAX_RESULT_BYTES } from "./result-cap.ts";

/** Runs `shell: "system"` commands; provided by the host-commands capability. */
/** `ack` is the handle of the command's queued ack: anything it sends about the command (chunks) goes after it. */
export type SystemRunner = (command: CommandEnvelope, signal: AbortSignal, ack?: number) => Promise<CommandResult>;

/** Remembers command ids so a resent command (the 2024 console can resend) does not run twice. */
export interface SeenCommands {
  /** Records the id; false when it was already seen within the window. */
  firstSighting(id: string, now: number): boolean;
}

export interface DispatcherOptions {
  registry: CommandRegistry;
  feedback: CommandFeedback;
  seen: SeenCommands;
  log: Logger;
  clock: Clock;
  signal: AbortSignal;
  systemRunner?: SystemRunner;
  maxConcurrent?: number;
  maxResultBytes?: number;
}

export { capResult } from "./result-cap.ts";

/** Commands waiting for a slot, at most; beyond it a command is acked and refused with a fin saying so. */
export const MAX_WAITING_COMMANDS = 256;
/** And at most this much of their line, data and env (UTF-16 units): one frame can hold 16 MiB. */
export const MAX_WAITING_TEXT = 16 * 1024 * 1024;
/**
 * A result this long leaves megabytes of garbage behind it (pipe chunks, decoded text) and makes more (the
 * escaped body, its UTF-8 copy for SQLite). Collecting before and after the fin is written keeps the agent's
 * peak near one copy of the fin instead of the sum of all copies (measured: about half the peak for 7 MB of
 * random output). A full collection takes a few tens of milliseconds; such output takes longer to make.
 */
export const COLLECT_ABOVE_CHARS = 1024 * 1024;
/** "Cannot record commands" is logged at most this often while it lasts. */
export const UNRECORDED_LOG_MS = 10 * 60_000;

export const TOO_MANY_WAITING = `alpamon: too many commands waiting (${MAX_WAITING_COMMANDS}); try again later`;
export const TOO_MUCH_WAITING = `alpamon: the commands waiting hold too much data (${MAX_WAITING_TEXT / (1024 * 1024)} MiB); try again later`;

/** The fin of a command that was not run because it could not be recorded. */
export function cannotRecord(err: unknown): string {
  const full = diskFullCode(err);
  const why = full ? `the state disk is full (${full})` : `the state database cannot be written (${describeError(err)})`;
  return `alpamon: cannot record this command: ${why}; it was not run`;
}

/** What a waiting command holds in memory, roughly: its text fields. */
function envelopeSize(command: CommandEnvelope): number {
  let size = command.line.length + (command.data?.length ?? 0) + (command.user?.length ?? 0) + (command.group?.length ?? 0);
  for (const [key, value] of Object.entries(command.env ?? {})) size += key.length + value.length;
  return size;
}

export class Dispatcher {
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  private waitingText = 0;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly maxConcurrent: number;
  private readonly maxResultBytes: number;
  private readonly unrecordedLog: LogThrottle;
  private unrecordedSince = false;

  constructor(private readonly options: DispatcherOptions) {
    this.maxConcurrent = options.maxConcurrent ?? 16;
    this.maxResultBytes = options.maxResultBytes ?? DEFAULT_MAX_RESULT_BYTES;
    this.unrecordedLog = new LogThrottle(UNRECORDED_LOG_MS, () => options.clock.monotonic());
  }

  /** Accepts a command: ack now, run when a slot is free, fin when done. Never throws. */
  accept(command: CommandEnvelope): void {
    const started = this.options.clock.monotonic();
    const ack = this.record(command.id);
    if (ack === undefined) return;
    const refusal = this.refusal(command);
    if (refusal) {
      this.finish(command.id, ack, started, { exitCode: 1, result: refusal });
      return;
    }
    const task = this.execute(command, ack)
      .catch((err) => ({ exitCode: 1, result: `internal error: ${(err as Error).message ?? String(err)}` }))
      .then((outcome) => this.finish(command.id, ack, started, outcome))
      .catch((err) => this.options.log.error("could not answer a command", { command: command.id, error: err }));
    this.track(task);
  }

  /** A command frame that failed validation but named an id: ack it and fin it with the reason. */
  reject(commandId: string, reason: string): void {
    const ack = this.record(commandId);
    if (ack !== undefined) this.finish(commandId, ack, this.options.clock.monotonic(), { exitCode: 1, result: reason });
  }

  /** Resolves when every accepted command has finished (or `timeoutMs` passed). */
  async idle(timeoutMs: number): Promise<boolean> {
    if (this.inFlight.size === 0) return true;
    const timer = new AbortController();
    const all = Promise.all([...this.inFlight]).then(() => true);
    const timeout = this.options.clock.sleep(timeoutMs, timer.signal).then(
      () => false,
      () => true,
    );
    try {
      return await Promise.race([all, timeout]);
    } finally {
      timer.abort();
    }
  }

  private track(task: Promise<void>): void {
    this.inFlight.add(task);
    void task.finally(() => this.inFlight.delete(task));
  }

  /**
   * Records the sighting and queues the ack; returns the ack's handle. Undefined when the id was seen already,
   * or when neither could be recorded: then the console is answered directly with a failed fin.
   */
  private record(commandId: string): number | undefined {
    const { log, clock, seen, feedback } = this.options;
    try {
      if (!seen.firstSighting(commandId, clock.now())) {
        log.info("ignoring a command id already received", { command: commandId });
        return undefined;
      }
      const ack = feedback.ack(commandId);
      this.recordedAgain();
      return ack;
    } catch (err) {
      this.answerDirectly(commandId, err, { success: false, result: cannotRecord(err), elapsed_time: 0, exit_code: 1 });
      return undefined;
    }
  }

  private finish(commandId: string, ack: number, started: number, outcome: CommandResult): void {
    const large = outcome.result.length >= COLLECT_ABOVE_CHARS;
    if (large) Bun.gc(true);
    const body: FinBody = {
      success: outcome.exitCode === 0,
      result: capResult(outcome.result, this.maxResultBytes),
      elapsed_time: (this.options.clock.monotonic() - started) / 1000,
      exit_code: outcome.exitCode,
    };
    try {
      this.options.feedback.fin(commandId, ack, body);
    } catch (err) {
      this.answerDirectly(commandId, err, body);
    }
    if (large) Bun.gc(true);
  }

  /** The outbox could not record an ack or fin: both go to the console directly; one error line per interval. */
  private answerDirectly(commandId: string, err: unknown, body: FinBody): void {
    const answered = this.options.feedback.direct?.(commandId, body) ?? false;
    this.unrecordedSince = true;
    const held = this.unrecordedLog.pass();
    if (held === undefined) return;
    this.options.log.error("cannot record commands in the state database; answering them directly", {
      command: commandId,
      error: describeError(err),
      answered,
      ...(held > 0 ? { more_since_last_line: held } : {}),
    });
  }

  private recordedAgain(): void {
    if (!this.unrecordedSince) return;
    this.unrecordedSince = false;
    this.options.log.info("commands are recorded in the state database again");
  }

  /** Why a command cannot wait for a slot, when every slot is busy and the queue is full. */
  private refusal(command: CommandEnvelope): string | undefined {
    if (this.running < this.maxConcurrent) return undefined;
    if (this.waiting.length >= MAX_WAITING_COMMANDS) return TOO_MANY_WAITING;
    if (this.waitingText + envelopeSize(command) > MAX_WAITING_TEXT) return TOO_MUCH_WAITING;
    return undefined;
  }

  private async slot(size: number): Promise<() => void> {
    if (this.running >= this.maxConcurrent) {
      this.waitingText += size;
      await new Promise<void>((resolve) => this.waiting.push(resolve));
      this.waitingText -= size;
    }
    this.running++;
    return () => {
      this.running--;
      this.waiting.shift()?.();
    };
  }

  private async execute(command: CommandEnvelope, ack: number): Promise<CommandResult> {
    // Data is decoded once a slot is free, so a waiting command holds only its text.
    const release = await this.slot(envelopeSize(command));
    try {
      const decoded = decodeCommandData(command.data);
      if (!decoded.ok) return { exitCode: 1, result: `${command.shell} command: ${decoded.error}` };
      if (command.shell === "internal") return await this.runInternal(command, decoded.data);
      if (command.shell === "system") {
        const runner = this.options.systemRunner;
        if (!runner) return { exitCode: 1, result: "This agent does not run system commands." };
        return await runner(command, this.options.signal, ack);
      }
      return { exitCode: 1, result: "Invalid command shell argument." };
    } finally {
      release();
    }
  }

  private async runInternal(command: CommandEnvelope, data: Record<string, unknown>): Promise<CommandResult> {
    const words = splitInternalLine(command.line);
    const name = words[0];
    if (!name) return { exitCode: 1, result: "No command provided" };
    const spec = this.options.registry.get(name);
    if (!spec) return { exitCode: 1, result: `Unknown command: ${name}` };
    const log = this.options.log.child(name);
    log.debug("running internal command", { command: command.id });
    const context = (signal: AbortSignal): CommandContext => ({
      id: command.id,
      args: words.slice(1),
      line: command.line,
      data,
      user: command.user,
      group: command.group,
      env: command.env,
      signal,
      log,
    });
    const timeoutMs = spec.timeoutMs;
    if (timeoutMs === undefined) return await invoke(name, spec, context(this.options.signal));
    // The command's signal is the agent's stop signal or its own deadline, whichever comes first. At the
    // deadline the signal is aborted and the fin says so at once; a command still running then is not waited for.
    const deadline = new AbortController();
    const timer = new AbortController();
    const expired = this.options.clock.sleep(timeoutMs, timer.signal).then(
      () => {
        deadline.abort(new Error(`timed out after ${timeoutMs} ms`));
        log.warn("internal command timed out", { command: command.id, timeout_ms: timeoutMs });
        return { exitCode: TIMEOUT_EXIT_CODE, result: timedOut(timeoutMs) };
      },
      () => new Promise<CommandResult>(() => {}),
    );
    try {
      return await Promise.race([invoke(name, spec, context(AbortSignal.any([this.options.signal, deadline.signal]))), expired]);
    } finally {
      timer.abort();
    }
  }
}

/** The exit code of a command stopped at its timeout (as timeout(1) and upstream report it). */
export const TIMEOUT_EXIT_CODE = 124;

/** The fin of an internal command that ran past its spec's timeout (upstream-2026.md §2.4). */
export function timedOut(timeoutMs: number): string {
  return `Command timed out after ${goDuration(timeoutMs)}`;
}
