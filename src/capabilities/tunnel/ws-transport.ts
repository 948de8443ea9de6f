// The WebSocket under an smux session (spec/upstream-2026.md §8.2): one frame per binary message out, inbound
// messages of any type concatenated into the session's byte stream. Backpressure both ways: the session pauses
// reading with Bun's WebSocket.pause() (reads stop at the socket, so the console sees TCP backpressure; at most one
// socket read already taken is still delivered, which the session's held-input bound covers), and a send past
// HIGH_WATER bytes queued on the socket waits until the queue is down to LOW_WATER, told by the pong of a ping
// queued behind it (console/ws-drain.ts), not by polling. Never buffers without bound.
import { SendQueueDrain } from "../../console/ws-drain.ts";
import type { Clock } from "../../platform/clock.ts";
import type { SmuxTransport } from "./smux-session.ts";

const HIGH_WATER = 4 << 20;
const LOW_WATER = 1 << 20;
/** The close frame's write deadline (§8.2). */
const CLOSE_DEADLINE_MS = 5_000;

export interface WebSocketTransport extends SmuxTransport {
  /** Resolves when the socket has closed (either side), with the code. */
  readonly closed: Promise<number>;
}

/** Wraps an open WebSocket; `receive` gets every inbound message as bytes. */
export function webSocketTransport(ws: WebSocket, receive: (bytes: Uint8Array) => void, clock: Clock): WebSocketTransport {
  const encoder = new TextEncoder();
  const { promise: closed, resolve: setClosed } = Promise.withResolvers<number>();
  /** The sends' wait while the queue is over the high water, settled when it drains or the socket closes. */
  let waiting: PromiseWithResolvers<void> | undefined;
  const drain = new SendQueueDrain(ws, {
    lowWaterBytes: LOW_WATER,
    clock,
    onDrained() {
      waiting?.resolve();
      waiting = undefined;
    },
  });
  ws.addEventListener("message", (event) => {
    const data = event.data as ArrayBuffer | string | Uint8Array;
    receive(typeof data === "string" ? encoder.encode(data) : data instanceof Uint8Array ? data : new Uint8Array(data));
  });
  ws.addEventListener("close", (event) => {
    drain.dispose();
    waiting?.reject(new Error("the tunnel WebSocket closed"));
    waiting = undefined;
    setClosed(event.code);
  });

  const drained = (): Promise<void> => {
    if (!waiting) {
      waiting = Promise.withResolvers<void>();
      // Awaited by the session, or by nobody when the socket closes first: never an unhandled rejection.
      waiting.promise.catch(() => {});
      drain.wait();
    }
    return waiting.promise;
  };

  return {
    closed,
    // Bun's send copies the frame into the socket or its own queue before it returns (ws-transport.test.ts).
    copiesFrames: true,
    send(frame) {
      if (ws.readyState !== WebSocket.OPEN) throw new Error("the tunnel WebSocket is not open");
      ws.send(frame);
      return ws.bufferedAmount > HIGH_WATER ? drained() : undefined;
    },
    pause() {
      ws.pause();
    },
    resume() {
      ws.resume();
    },
    close() {
      if (ws.readyState === WebSocket.CLOSED) return;
      // A paused socket would never read the peer's close answer.
      ws.resume();
      ws.close(1000);
      const timer = setTimeout(() => ws.terminate(), CLOSE_DEADLINE_MS);
      void closed.then(() => clearTimeout(timer));
    },
  };
}

/** Resolves once `ws` is open; rejects when it closes first or the handshake takes longer than `timeoutMs`. */
export function opened(ws: WebSocket, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    if (ws.readyState === WebSocket.OPEN) return resolve();
    const timer = setTimeout(() => {
      ws.terminate();
      reject(new Error(`handshake timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    ws.addEventListener("open", () => {
      clearTimeout(timer);
      resolve();
    });
    ws.addEventListener("close", (event) => {
      clearTimeout(timer);
      reject(new Error(`closed during the handshake (code ${event.code})`));
    });
  });
}
