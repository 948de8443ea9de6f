// Ack and fin through the durable outbox, in the 2025 form with the 2024 PATCH form as fallback
// (console-dialects.md §6): the outbox switches dialect on a 404 and remembers it. The fin waits for its ack.
import type { Outbox } from "../console/outbox.ts";

export interface FinBody {
  success: boolean;
  result: string;
  elapsed_time: number;
}

export interface CommandFeedback {
  /** Queues the ack; returns a handle the fin must follow. */
  ack(commandId: string): number;
  fin(commandId: string, ack: number, body: FinBody): void;
}

export const COMMAND_PRIORITY = 10;

export function outboxFeedback(outbox: Pick<Outbox, "enqueue">, now: () => number): CommandFeedback {
  const base = (id: string) => `/api/events/commands/${id}/`;
  return {
    ack(commandId) {
      return outbox.enqueue({
        method: "POST",
        path: `${base(commandId)}ack/`,
        priority: COMMAND_PRIORITY,
        fallback: { dialect: "commands", method: "PATCH", path: base(commandId), body: { acked_at: new Date(now()).toISOString() } },
      });
    },
    fin(commandId, ack, body) {
      outbox.enqueue({
        method: "POST",
        path: `${base(commandId)}fin/`,
        body,
        priority: COMMAND_PRIORITY,
        after: ack,
        fallback: {
          dialect: "commands",
          method: "PATCH",
          path: base(commandId),
          body: { ...body, handled_at: new Date(now()).toISOString() },
        },
      });
    },
  };
}
