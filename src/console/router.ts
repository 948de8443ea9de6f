// Routes each backhaul frame: commands to the dispatcher, quit/reconnect/commit to the agent, ping to the
// backhaul (which answers pong on the socket the frame came from). A bad frame
// is logged by what was wrong with it, never by its content (a command's line, env and data may hold
// passwords and tokens, and warnings are forwarded to the console's log history) and, when it named a
// command id, answered with a failed fin.
import type { Fields, Logger } from "../log/logger.ts";
import { parseInbound, type CommandEnvelope } from "./protocol.ts";

export interface RouterTargets {
  accept(command: CommandEnvelope): void;
  reject(commandId: string, reason: string): void;
  quit(reason: string | undefined): void;
  reconnect(reason: string | undefined): void;
  /** `{"query":"commit"}`: the 2024 console sends it on every connect. */
  commit(): void;
  /** `{"query":"ping"}`: a 2026 console's liveness check, answered with a pong on the same socket at once. */
  ping?(): void;
}

function preview(text: string): string {
  return text.length > 200 ? `${text.slice(0, 200)}… (${text.length} chars)` : text;
}

/** A schema's default message quotes the value ("... but received \"PASSWORD=x\""): that tail is cut. */
function withoutValue(error: string): string {
  return error.replace(/,? but received [\s\S]*$/, "");
}

/** The query, the command id and the failing field: enough to find the frame, nothing of what it carried. */
function invalidFrameFields(error: string, commandId: string | undefined): Fields {
  const field = /^command\.[A-Za-z_]+/.exec(error)?.[0];
  const isCommand = commandId !== undefined || error.startsWith("command");
  return {
    ...(isCommand ? { query: "command" } : {}),
    ...(commandId ? { command_id: commandId } : {}),
    ...(field ? { field } : {}),
    problem: preview(error),
  };
}

export function createRouter(targets: RouterTargets, log: Logger): (text: string) => void {
  return (text) => {
    const parsed = parseInbound(text);
    if (!parsed.ok) {
      const error = withoutValue(parsed.error);
      log.warn("ignoring an invalid message from the console", invalidFrameFields(error, parsed.commandId));
      if (parsed.commandId) targets.reject(parsed.commandId, `invalid command: ${error}`);
      return;
    }
    const message = parsed.message;
    switch (message.query) {
      case "command":
        if ("command" in message) targets.accept(message.command);
        return;
      case "quit":
        log.info("the console asked the agent to quit", { reason: message.reason });
        targets.quit(message.reason);
        return;
      case "reconnect":
        log.info("the console asked the agent to reconnect", { reason: message.reason });
        targets.reconnect(message.reason);
        return;
      case "commit":
        targets.commit();
        return;
      case "ping":
        targets.ping?.();
        return;
      case "pong":
        return;
      default:
        log.warn("ignoring an unknown query from the console", { query: preview(message.query) });
    }
  };
}
