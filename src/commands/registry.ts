// The registry of internal commands: a name maps to a handler. Each command family registers its own
// handlers (one file per family); the dispatcher owns ack, fin, isolation, caps and de-duplication.
import type { Logger } from "../log/logger.ts";
import type { CommandData } from "../console/protocol.ts";

export interface CommandResult {
  exitCode: number;
  result: string;
}

export interface CommandContext {
  /** The console's command id. */
  id: string;
  /** The command line's words after the command name (Go-style quoted words are unquoted). */
  args: string[];
  line: string;
  data: CommandData;
  user: string | null;
  group: string | null;
  env: Record<string, string> | null;
  /** Aborted when the agent stops; long-running handlers should honour it. */
  signal: AbortSignal;
  log: Logger;
}

export interface CommandHandler {
  name: string;
  /** One line for `help`. */
  summary: string;
  run(ctx: CommandContext): Promise<CommandResult> | CommandResult;
}

export class CommandRegistry {
  private readonly handlers = new Map<string, CommandHandler>();

  register(...handlers: CommandHandler[]): this {
    for (const handler of handlers) {
      if (this.handlers.has(handler.name)) throw new Error(`command ${handler.name} registered twice`);
      this.handlers.set(handler.name, handler);
    }
    return this;
  }

  get(name: string): CommandHandler | undefined {
    return this.handlers.get(name);
  }

  /** Registered handlers, sorted by name. */
  list(): CommandHandler[] {
    return [...this.handlers.values()].sort((a, b) => a.name.localeCompare(b.name));
  }
}

/** A successful result. */
export function ok(result: string): CommandResult {
  return { exitCode: 0, result };
}

/** A failed result with exit code 1. */
export function fail(result: string): CommandResult {
  return { exitCode: 1, result };
}
