// The tunnel's WebSocket transport (src/capabilities/tunnel/ws-transport.ts) against a real Bun server: pause() really
// stops reading, so the sender's data piles up on its side (the console sees TCP backpressure) while the agent holds
// at most one socket read; resume() delivers the rest. Sends wait while the socket's queue is over its high water.
import { expect, test } from "bun:test";
import { type WebSocketTransport, webSocketTransport } from "../../../src/capabilities/tunnel/ws-transport.ts";
import { systemClock } from "../../../src/platform/clock.ts";
import { recordingClock, wsPeer } from "../../console/ws-peer.ts";
import { until } from "./tunnel-fixtures.ts";

const MiB = 1 << 20;

test("pause stops reading at the socket: the server's queue grows, the client holds at most a read; resume delivers all", async () => {
  const TOTAL = 48 * MiB;
  let received = 0;
  let receivedAtPause = -1;
  let transport: WebSocketTransport | undefined;
  const {
    ws,
    peer,
    received: fromClient,
    stop,
  } = await wsPeer({
    // The transport listens from before the handshake, as the tunnel's does.
    beforeOpen: (socket) => {
      transport = webSocketTransport(
        socket,
        (bytes) => {
          received += bytes.length;
          if (receivedAtPause < 0 && received >= MiB) {
            receivedAtPause = received;
            transport!.pause();
          }
        },
        systemClock,
      );
    },
  });
  try {
    const chunk = new Uint8Array(64 * 1024);
    for (let sent = 0; sent < TOTAL; sent += chunk.length) peer.sendBinary(chunk);
    // The kernel's buffers filled and the rest waits in the server: the client stopped reading.
    await until(() => receivedAtPause > 0 && peer.getBufferedAmount() > 8 * MiB, "the server's queue to grow");
    expect(received - receivedAtPause).toBeLessThanOrEqual(MiB);
    transport!.resume();
    await until(() => received === TOTAL, "every byte after resume", 30_000);

    // Sending: while the server reads nothing, a send past the high water (4 MiB queued) returns a promise that
    // settles only once the queue is down to the low water (1 MiB).
    peer.pause();
    let pending: Promise<void> | undefined;
    let sends = 0;
    while (!pending && sends < 2048) {
      pending = transport!.send(new Uint8Array(64 * 1024)) ?? undefined;
      sends++;
    }
    expect(pending).toBeDefined();
    expect(ws.bufferedAmount).toBeGreaterThan(4 * MiB);
    let settled = false;
    void pending!.then(() => (settled = true));
    await until(() => fromClient() === 0 && ws.bufferedAmount > 4 * MiB, "the queue to stay full while the server is paused");
    expect(settled).toBe(false);
    peer.resume();
    await pending;
    expect(ws.bufferedAmount).toBeLessThanOrEqual(MiB);
    await until(() => fromClient() === sends * 64 * 1024, "the server to get every frame");
    transport!.close();
    expect(await transport!.closed).toBe(1000);
  } finally {
    stop();
  }
}, 60_000);

test("send has copied the frame when it returns (copiesFrames): the buffer may be reused at once, even while queued", async () => {
  const FRAMES = 600;
  const SIZE = 32 * 1024 + 8;
  const firstBytes: number[] = [];
  const lastBytes: number[] = [];
  const { ws, peer, stop } = await wsPeer({
    onMessage: (b) => {
      firstBytes.push(b[0]!);
      lastBytes.push(b[b.length - 1]!);
    },
  });
  const transport = webSocketTransport(ws, () => {}, systemClock);
  try {
    expect(transport.copiesFrames).toBe(true);
    // The server reads nothing at first, so most frames wait in the client's queue, not in the kernel.
    peer.pause();
    const buffer = new Uint8Array(SIZE);
    for (let i = 0; i < FRAMES; i++) {
      buffer.fill(i % 251);
      void transport.send(buffer);
    }
    expect(ws.bufferedAmount).toBeGreaterThan(4 * MiB);
    buffer.fill(255);
    peer.resume();
    await until(() => firstBytes.length === FRAMES, "every frame", 30_000);
    const expected = Array.from({ length: FRAMES }, (_, i) => i % 251);
    expect(firstBytes).toEqual(expected);
    expect(lastBytes).toEqual(expected);
  } finally {
    stop();
  }
}, 60_000);

test("a send past the high water ends its wait on the pong of a ping queued behind it, with no timer firing", async () => {
  const { ws, peer, received: fromClient, pings, stop } = await wsPeer();
  const clock = recordingClock();
  const transport = webSocketTransport(ws, () => {}, clock);
  try {
    peer.pause();
    let pending: Promise<void> | undefined;
    let sends = 0;
    while (!pending && sends < 2048) {
      pending = transport.send(new Uint8Array(64 * 1024)) ?? undefined;
      sends++;
    }
    expect(pending).toBeDefined();
    // A second send while waiting shares the wait (one marker in flight).
    const second = transport.send(new Uint8Array(64 * 1024));
    sends++;
    expect(second).toBe(pending);
    // Only the watchdog for a peer that never answers pings was asked of the clock, and it never fires here.
    expect(clock.sleeps).toEqual([1_000]);
    peer.resume();
    await pending;
    expect(ws.bufferedAmount).toBeLessThanOrEqual(MiB);
    expect(pings()).toBeGreaterThan(0);
    await until(() => fromClient() === sends * 64 * 1024, "the server to get every frame");
    expect(clock.sleeps.every((ms) => ms === 1_000)).toBe(true);
  } finally {
    stop();
  }
}, 60_000);

test("a send waiting on the queue fails when the socket closes", async () => {
  const { ws, peer, stop } = await wsPeer();
  const transport = webSocketTransport(ws, () => {}, recordingClock());
  try {
    peer.pause();
    let pending: Promise<void> | undefined;
    for (let sends = 0; !pending && sends < 2048; sends++) pending = transport.send(new Uint8Array(64 * 1024)) ?? undefined;
    expect(pending).toBeDefined();
    ws.terminate();
    await expect(pending!).rejects.toThrow("the tunnel WebSocket closed");
    expect(() => transport.send(new Uint8Array(1))).toThrow("not open");
  } finally {
    stop();
  }
}, 60_000);
