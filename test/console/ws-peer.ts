// For tests of a WebSocket client's flow control (console/ws-drain.ts, the tunnel's transport, the terminal): a
// real Bun server with one peer and a client socket to it, and a clock whose sleeps end only when the test moves
// it, recording what was asked of it.
import type { ServerWebSocket } from "bun";
import { type Clock, ManualClock } from "../../src/platform/clock.ts";
import { eventually } from "./fake-console-waits.ts";

const MiB = 1 << 20;

export interface WsPeer {
  /** The client socket (binaryType "arraybuffer"), open. */
  ws: WebSocket;
  /** The server's side of it. */
  peer: ServerWebSocket<unknown>;
  /** Bytes the server has received. */
  received(): number;
  /** Pings the server has received (it answers each). */
  pings(): number;
  stop(): void;
}

/**
 * A Bun server (128 MiB backpressure limit) and an open client socket to it. `beforeOpen` runs on the client
 * socket before the handshake completes (to attach listeners first); `onMessage` sees every message the server
 * receives.
 */
export async function wsPeer(
  options: { beforeOpen?: (ws: WebSocket) => void; onMessage?: (message: Buffer) => void } = {},
): Promise<WsPeer> {
  let peer: ServerWebSocket<unknown> | undefined;
  let received = 0;
  let pings = 0;
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: (req, s) => (s.upgrade(req) ? undefined : new Response("no", { status: 400 })),
    websocket: {
      backpressureLimit: 128 * MiB,
      open: (ws) => {
        peer = ws;
      },
      message: (_ws, m) => {
        const message = m as Buffer;
        received += message.length;
        options.onMessage?.(message);
      },
      ping: () => {
        pings++;
      },
    },
  });
  const ws = new WebSocket(`ws://127.0.0.1:${server.port}`);
  ws.binaryType = "arraybuffer";
  const stop = () => {
    ws.terminate();
    server.stop(true);
  };
  try {
    options.beforeOpen?.(ws);
    await new Promise<void>((resolve, reject) => {
      ws.addEventListener("open", () => resolve());
      ws.addEventListener("close", () => reject(new Error("closed during the handshake")));
    });
    await eventually(() => peer !== undefined, 5_000, "the server side");
  } catch (err) {
    stop();
    throw err;
  }
  return { ws, peer: peer!, received: () => received, pings: () => pings, stop };
}

/** A clock whose sleeps end only when the test advances it, recording every sleep asked of it. */
export function recordingClock(): Clock & { sleeps: number[]; advance: (ms: number) => Promise<void> } {
  const manual = new ManualClock();
  const sleeps: number[] = [];
  return {
    sleeps,
    advance: (ms) => manual.advance(ms),
    now: () => manual.now(),
    monotonic: () => manual.monotonic(),
    sleep: (ms, signal) => {
      sleeps.push(ms);
      return manual.sleep(ms, signal);
    },
  };
}
