// Streamed output of a `system` command (upstream-2026.md §2.3): `POST /api/events/commands/<id>/chunk/`
// `{seq, content}` through the durable outbox, at PRIORITY_COMMANDS and after the command's ack, so a chunk
// never precedes it. A console that answers 404 (2024, 2025) switches the "chunks" dialect off for good (the
// outbox remembers it in the state DB) and streaming stops; the fin then carries the output.
// Bounded: when the outbox is at 80 % of its row or byte cap, a chunk waits (and with it the command's output
// pipe: backpressure) for up to 2 s, then it is dropped, and so are the following ones while the outbox stays
// that full; one warning per command. Acks and fins are never held back nor dropped here. A wait ends at once
// when the command's signal (the agent stopping) aborts: the chunk is dropped, so shutdown is not held back.
import type { Outbox } from "../console/outbox/outbox.ts";
import { PRIORITY_COMMANDS } from "../console/outbox/item.ts";
import type { Logger } from "../log/logger.ts";
import type { Clock } from "../platform/clock.ts";

export const CHUNKS_DIALECT = "chunks";
/** Upstream's threshold: 80 % of the queue. */
const NEAR_FULL = 0.8;
const RECHECK_MS = 10;
export const DEFAULT_CHUNK_WAIT_MS = 2_000;

/** One command's chunk series. */
export interface ChunkSink {
  /** Queues the next seq; a promise while it waits for room in the outbox (the caller stops reading meanwhile). */
  send(content: string): undefined | Promise<void>;
  /** True once the console is known to take chunks: the fin may then be the capped audit copy. */
  accepted(): boolean;
}

/**
 * Opens a command's chunk series, or undefined when this console does not take chunks. Once `signal` aborts,
 * no chunk waits for room any more: a waiting one and the following ones that find the outbox full are dropped.
 */
export type OpenChunks = (commandId: string, ack: number, signal?: AbortSignal) => ChunkSink | undefined;

export interface ChunkOptions {
  outbox: Pick<Outbox, "enqueue" | "stats" | "limits" | "dialect">;
  log: Logger;
  clock: Clock;
  /** How long a chunk waits for room before it is dropped; default 2 s. */
  waitMs?: number;
}

export function outboxChunks(options: ChunkOptions): OpenChunks {
  const { outbox, log, clock } = options;
  const waitMs = options.waitMs ?? DEFAULT_CHUNK_WAIT_MS;
  const nearFull = () => {
    const { rows, bytes } = outbox.stats();
    const { maxRows, maxBytes } = outbox.limits();
    return rows >= maxRows * NEAR_FULL || bytes >= maxBytes * NEAR_FULL;
  };
  return (commandId, ack, signal) => {
    if (outbox.dialect(CHUNKS_DIALECT) === "fallback") return undefined;
    const path = `/api/events/commands/${commandId}/chunk/`;
    let seq = 0;
    let dropped = 0;
    /** After a chunk was dropped for room, the next ones are dropped at once until the outbox has room again. */
    let shedding = false;

    const drop = () => {
      if (dropped++ === 0) {
        log.warn("the outbox is nearly full; dropping this command's streamed output (its fin still carries a copy)", {
          command: commandId,
        });
      }
    };
    const enqueue = (n: number, content: string) => {
      // A console that turned out not to take chunks: the seq is spent, nothing is queued.
      if (outbox.dialect(CHUNKS_DIALECT) === "fallback") return;
      try {
        outbox.enqueue({
          method: "POST",
          path,
          body: { seq: n, content },
          priority: PRIORITY_COMMANDS,
          after: ack,
          fallback: { dialect: CHUNKS_DIALECT, drop: true },
        });
      } catch (err) {
        drop();
        log.debug("could not queue a chunk", { command: commandId, error: err instanceof Error ? err.message : String(err) });
      }
    };
    const wait = async (n: number, content: string): Promise<void> => {
      const until = clock.monotonic() + waitMs;
      while (nearFull()) {
        if (clock.monotonic() >= until || signal?.aborted) {
          shedding = true;
          drop();
          return;
        }
        // An abort rejects the sleep; the loop then sees it and drops the chunk.
        await clock.sleep(RECHECK_MS, signal).catch(() => {});
      }
      enqueue(n, content);
    };

    return {
      send(content) {
        const n = seq++; // spent even when the chunk is dropped: the console reassembles by seq
        if (!nearFull()) {
          shedding = false;
          enqueue(n, content);
          return undefined;
        }
        if (shedding) {
          drop();
          return undefined;
        }
        return wait(n, content);
      },
      accepted: () => outbox.dialect(CHUNKS_DIALECT) === "primary",
    };
  };
}
