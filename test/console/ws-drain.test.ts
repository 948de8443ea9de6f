// The send queue's drain without polling (src/console/ws-drain.ts), against a real Bun server: the wait ends on
// the pong of the marker queued behind the output once the queue is at the low water, never on another pong while
// the queue is still high, never after dispose(). The clock never fires here, so only the protocol can end a wait.
import { expect, test } from "bun:test";
import { SendQueueDrain } from "../../src/console/ws-drain.ts";
import { ManualClock } from "../../src/platform/clock.ts";
import { eventually } from "./fake-console-waits.ts";
import { wsPeer } from "./ws-peer.ts";

const MiB = 1 << 20;

/** A client socket whose queue is over 8 MiB, to a peer that reads nothing until resumed. */
async function pausedPeer() {
  const pair = await wsPeer();
  pair.peer.pause();
  while (pair.ws.bufferedAmount < 8 * MiB) pair.ws.send(new Uint8Array(256 * 1024));
  return pair;
}

test("the wait ends on the marker's pong once the queue is at the low water, not on an unsolicited pong before", async () => {
  const { ws, peer, stop } = await pausedPeer();
  let drained = 0;
  const pongs: number[] = [];
  ws.addEventListener("pong", () => pongs.push(ws.bufferedAmount));
  const drain = new SendQueueDrain(ws, { lowWaterBytes: MiB, clock: new ManualClock(), onDrained: () => drained++ });
  try {
    drain.wait();
    expect(drain.waiting).toBe(true);
    drain.wait(); // a wait in progress is not started again
    // A pong the peer sends on its own, while the queue is still full: the wait goes on.
    peer.pong(new Uint8Array([1, 2, 3, 4]));
    await eventually(() => pongs.length === 1, 10_000, "the unsolicited pong");
    expect(pongs[0]).toBeGreaterThan(MiB);
    expect(drained).toBe(0);
    expect(drain.waiting).toBe(true);
    peer.resume();
    await eventually(() => drained === 1, 30_000, "the drain");
    expect(ws.bufferedAmount).toBeLessThanOrEqual(MiB);
    expect(drain.waiting).toBe(false);
    // Exactly one marker was answered after the unsolicited pong.
    expect(pongs.length).toBe(2);
  } finally {
    drain.dispose();
    stop();
  }
}, 60_000);

test("after dispose a wait never ends, and the socket's pongs are no longer listened to", async () => {
  const { ws, peer, stop } = await pausedPeer();
  let drained = 0;
  let pongs = 0;
  ws.addEventListener("pong", () => pongs++);
  const drain = new SendQueueDrain(ws, { lowWaterBytes: MiB, clock: new ManualClock(), onDrained: () => drained++ });
  try {
    drain.wait();
    drain.dispose();
    expect(drain.waiting).toBe(false);
    peer.resume();
    await eventually(() => pongs === 1 && ws.bufferedAmount <= MiB, 30_000, "the marker's pong");
    expect(drained).toBe(0);
    drain.wait(); // disposed: sends no marker
    expect(drain.waiting).toBe(false);
  } finally {
    stop();
  }
}, 60_000);
