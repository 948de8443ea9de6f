// The dispatcher: for every command from the console it acks on receipt, runs the handler in isolation
// (an exception becomes a failed fin, never a crash), caps the result, and fins with the elapsed time.
// It never runs a command id twice within the de-duplication window and never starts more than the limit at once.
import type { CommandEnvelope } from "../console/protocol.ts";
import { decodeCommandData } from "../console/protocol.ts";
import type { Logger } from "../log/logger.ts";
import type { Clock } from "../platform/clock.ts";
import { splitInternalLine } from "./line.ts";
import type { CommandRegistry, CommandResult } from "./registry.ts";
import type { CommandFeedback } from "./feedback.ts";

/** Runs `shell: "system"` commands; provided by the host-commands capability. */
export type SystemRunner = (command: CommandEnvelope, signal: AbortSignal) => Promise<CommandResult>;

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

/** A safety net above the 8 MiB output cap of the runners, so their own truncation marker survives. */
export const DEFAULT_MAX_RESULT_BYTES = 8 * 1024 * 1024 + 4096;

/** Cuts a result to at most `maxBytes` of UTF-8 (never inside a character) and says how much was cut. */
export function capResult(result: string, maxBytes: number): string {
  const bytes = Buffer.byteLength(result);
  if (bytes <= maxBytes) return result;
  let end = Math.min(result.length, maxBytes);
  while (end > 0 && Buffer.byteLength(result.slice(0, end)) > maxBytes) end = Math.floor(end * 0.95);
  if (end > 0 && /[\uD800-\uDBFF]/.test(result[end - 1]!)) end--;
  const kept = result.slice(0, end);
  return `${kept}\n[alpamon: output truncated, ${bytes - Buffer.byteLength(kept)} of ${bytes} bytes omitted]`;
}

export class Dispatcher {
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  private readonly inFlight = new Set<Promise<void>>();
  private readonly maxConcurrent: number;
  private readonly maxResultBytes: number;

  constructor(private readonly options: DispatcherOptions) {
    this.maxConcurrent = options.maxConcurrent ?? 16;
    this.maxResultBytes = options.maxResultBytes ?? DEFAULT_MAX_RESULT_BYTES;
  }

  /** Accepts a command: ack now, run when a slot is free, fin when done. Never throws. */
  accept(command: CommandEnvelope): void {
    const { log, clock, seen, feedback } = this.options;
    if (!seen.firstSighting(command.id, clock.now())) {
      log.info("ignoring a command id already received", { command: command.id });
      return;
    }
    const started = clock.monotonic();
    const ack = feedback.ack(command.id);
    const task = this.execute(command)
      .catch((err) => ({ exitCode: 1, result: `internal error: ${(err as Error).message ?? String(err)}` }))
      .then((outcome) => {
        const elapsed = (clock.monotonic() - started) / 1000;
        feedback.fin(command.id, ack, {
          success: outcome.exitCode === 0,
          result: capResult(outcome.result, this.maxResultBytes),
          elapsed_time: elapsed,
        });
      })
      .catch((err) => log.error("could not record a command's fin", { command: command.id, error: err }));
    this.track(task);
  }

  /** A command frame that failed validation but named an id: ack it and fin it with the reason. */
  reject(commandId: string, reason: string): void {
    const { seen, clock, feedback } = this.options;
    if (!seen.firstSighting(commandId, clock.now())) return;
    const ack = feedback.ack(commandId);
    feedback.fin(commandId, ack, { success: false, result: reason, elapsed_time: 0 });
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

  private async slot(): Promise<() => void> {
    if (this.running >= this.maxConcurrent) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.running++;
    return () => {
      this.running--;
      this.waiting.shift()?.();
    };
  }

  private async execute(command: CommandEnvelope): Promise<CommandResult> {
    const decoded = decodeCommandData(command.data);
    if (!decoded.ok) return { exitCode: 1, result: `${command.shell} command: ${decoded.error}` };
    const release = await this.slot();
    try {
      if (command.shell === "internal") return await this.runInternal(command, decoded.data);
      if (command.shell === "system") {
        const runner = this.options.systemRunner;
        if (!runner) return { exitCode: 1, result: "This agent does not run system commands." };
        return await runner(command, this.options.signal);
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
    const handler = this.options.registry.get(name);
    if (!handler) return { exitCode: 1, result: `Invalid command ${name}` };
    const log = this.options.log.child(name);
    log.debug("running internal command", { command: command.id });
    return await handler.run({
      id: command.id,
      args: words.slice(1),
      line: command.line,
      data,
      user: command.user,
      group: command.group,
      env: command.env,
      signal: this.options.signal,
      log,
    });
  }
}
