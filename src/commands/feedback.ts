// Ack and fin through the durable outbox, in the 2025 form with the 2024 PATCH form as fallback
// (console-dialects.md §6): the outbox switches dialect on a 404 and remembers it. The fin waits for its ack.
// The 2024 fin body is the 2025 one plus handled_at, built when sent, so a large result is stored once.
// The fin carries exit_code (2026, upstream-2026.md §2.2) in every dialect: the 2024 console's PATCH serializer
// ignores fields it does not know, and the 2025 one reads success, as before. Fins go at PRIORITY_FINS, one
// step behind acks, events and chunks.
// A command the outbox cannot record (the state disk is full) is answered directly instead (DirectAnswers).
import type { Outbox, OutboxSender } from "../console/outbox/outbox.ts";
import { outcomeOf } from "../console/outbox/outbox.ts";
import { PRIORITY_COMMANDS, PRIORITY_FINS, type Outcome } from "../console/outbox/item.ts";
import type { HttpMethod } from "../console/http.ts";
import type { Clock } from "../platform/clock.ts";
import { capResult } from "./result-cap.ts";

export interface FinBody {
  /** exit_code == 0. */
  success: boolean;
  result: string;
  elapsed_time: number;
  /** The process status (-1 killed by a signal, 124 timed out) or the internal command's code (1 for failures). */
  exit_code: number;
}

export interface CommandFeedback {
  /** Queues the ack; returns a handle the fin must follow. Throws when it cannot be recorded. */
  ack(commandId: string): number;
  /** Throws when it cannot be recorded. */
  fin(commandId: string, ack: number, body: FinBody): void;
  /**
   * Sends the ack and then the fin straight to the console, for a command whose ack or fin could not be
   * recorded. False when it cannot (no direct channel, or too many answers already on their way).
   */
  direct?(commandId: string, body: FinBody): boolean;
}

/** The fin's body and path besides the result: its fields, the command id, the merge for the 2024 form. */
const FIN_OVERHEAD_BYTES = 1024;

const commandPath = (id: string) => `/api/events/commands/${id}/`;

export interface DirectChannel {
  sender: OutboxSender;
  clock: Clock;
}

export function outboxFeedback(outbox: Pick<Outbox, "enqueue" | "maxBytes">, now: () => number, direct?: DirectChannel): CommandFeedback {
  const answers = direct ? new DirectAnswers(direct, now) : undefined;
  return {
    ack(commandId) {
      return outbox.enqueue({
        method: "POST",
        path: `${commandPath(commandId)}ack/`,
        priority: PRIORITY_COMMANDS,
        fallback: { dialect: "commands", method: "PATCH", path: commandPath(commandId), body: { acked_at: new Date(now()).toISOString() } },
      });
    },
    fin(commandId, ack, body) {
      outbox.enqueue({
        method: "POST",
        path: `${commandPath(commandId)}fin/`,
        body: fitting(body, outbox.maxBytes - FIN_OVERHEAD_BYTES),
        priority: PRIORITY_FINS,
        after: ack,
        fallback: {
          dialect: "commands",
          method: "PATCH",
          path: commandPath(commandId),
          merge: { handled_at: new Date(now()).toISOString() },
        },
      });
    },
    direct(commandId, body) {
      return answers?.answer(commandId, body) ?? false;
    },
  };
}

/** The outbox never refuses a fin, but one larger than its byte cap would push everything else out: shorten it. */
function fitting(body: FinBody, maxResultBytes: number): FinBody {
  // Every UTF-16 unit escapes to at most 6 bytes, so most results need no scan at all.
  if (body.result.length * 6 <= maxResultBytes) return body;
  return { ...body, result: capResult(body.result, Math.max(0, maxResultBytes)) };
}

/** Answers on their way at once; beyond this a command that cannot be recorded gets no answer. */
export const MAX_DIRECT_ANSWERS = 64;
/** Tries per request, 1 s, 2 s, 4 s, 8 s apart: about 15 s, all in memory. */
const DIRECT_TRIES = 5;

type Form = { method: HttpMethod; path: string; body?: unknown };

/**
 * Ack, then fin, straight through the console's HTTP client (one of DESIGN.md's exceptions to "everything
 * through the outbox": the outbox is what could not record them). The 2025 form first, the 2024 one on 404.
 */
export class DirectAnswers {
  private pending = 0;

  constructor(
    private readonly channel: DirectChannel,
    private readonly now: () => number,
  ) {}

  answer(commandId: string, body: FinBody): boolean {
    if (this.pending >= MAX_DIRECT_ANSWERS) return false;
    this.pending++;
    void this.deliver(commandId, body).finally(() => this.pending--);
    return true;
  }

  private async deliver(commandId: string, body: FinBody): Promise<void> {
    const path = commandPath(commandId);
    const stamp = () => new Date(this.now()).toISOString();
    // An ack refused (the 2024 console refuses a second one) still lets the fin go; an unanswered one does not.
    const acked = await this.send({ method: "POST", path: `${path}ack/` }, () => ({ method: "PATCH", path, body: { acked_at: stamp() } }));
    if (acked === "retry") return;
    await this.send({ method: "POST", path: `${path}fin/`, body }, () => ({
      method: "PATCH",
      path,
      body: { ...body, handled_at: stamp() },
    }));
  }

  /** "delivered" (2xx), "drop" (refused) or "retry" (never answered, after every try). */
  private async send(primary: Form, fallback: () => Form): Promise<Outcome> {
    let outcome: Outcome = "retry";
    for (let attempt = 0; attempt < DIRECT_TRIES && outcome === "retry"; attempt++) {
      if (attempt > 0) await this.channel.clock.sleep(1000 * 2 ** (attempt - 1));
      let status = await this.request(primary);
      if (status === 404) status = await this.request(fallback());
      outcome = outcomeOf(status);
    }
    return outcome;
  }

  private async request(form: Form): Promise<number> {
    try {
      return (await this.channel.sender.request(form.method, form.path, form.body === undefined ? {} : { body: form.body })).status;
    } catch {
      return 0;
    }
  }
}
