// The WebSocket under an smux session (spec/upstream-2026.md §8.2): one frame per binary message out, inbound
// messages of any type concatenated into the session's byte stream. Backpressure both ways: the session pauses
// reading with Bun's WebSocket.pause() (reads stop at the socket, so the console sees TCP backpressure; at most one
// socket read already taken is still delivered, which the session's held-input bound covers), and a send waits
// while more than HIGH_WATER bytes are queued on the socket. Never buffers without bound.
import type { Clock } from "../../platform/clock.ts";
import type { SmuxTransport } from "./smux-session.ts";

const HIGH_WATER = 4 << 20;
const LOW_WATER = 1 << 20;
const DRAIN_POLL_MS = 1;
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
  const stopped = new AbortController();
  ws.addEventListener("message", (event) => {
    const data = event.data as ArrayBuffer | string | Uint8Array;
    receive(typeof data === "string" ? encoder.encode(data) : data instanceof Uint8Array ? data : new Uint8Array(data));
  });
  ws.addEventListener("close", (event) => {
    stopped.abort();
    setClosed(event.code);
  });

  const drained = async (): Promise<void> => {
    while (ws.readyState === WebSocket.OPEN && ws.bufferedAmount > LOW_WATER) await clock.sleep(DRAIN_POLL_MS, stopped.signal);
    if (ws.readyState !== WebSocket.OPEN) throw new Error("the tunnel WebSocket closed");
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
