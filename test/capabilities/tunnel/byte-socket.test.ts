// The relay's Bun socket wrapper (src/capabilities/tunnel/byte-socket.ts) over a real Unix socket: what the kernel
// does not take is queued in order and written on drain, `write` says when to stop the source and `drained()`
// when to go on, `end()` sends FIN only after the queue (the socket still reads), and the close is reported once.
import { expect, test } from "bun:test";
import { join } from "node:path";
import { ByteSocket, byteSocketHandler } from "../../../src/capabilities/tunnel/byte-socket.ts";
import { useTempDirs } from "../../helpers/tmp.ts";
import { until } from "./tunnel-fixtures.ts";

const tempDir = useTempDirs("alpamon-bytesocket-");
const MiB = 1 << 20;

test("queues what the kernel does not take, in order; drained() waits for the peer; end() sends FIN after the queue", async () => {
  const path = join(tempDir(), "s.sock");
  const received: Uint8Array[] = [];
  let peer: ByteSocket | undefined;
  let peerSawEnd = false;
  const listener = Bun.listen<ByteSocket>({
    unix: path,
    allowHalfOpen: true,
    socket: {
      ...byteSocketHandler,
      open(socket) {
        const conn = new ByteSocket();
        socket.data = conn;
        conn.onData = (chunk) => received.push(chunk);
        conn.onEnd = () => {
          peerSawEnd = true;
          conn.write(new TextEncoder().encode("after your end"));
          conn.end();
        };
        conn.attach(socket);
        conn.pause();
        peer = conn;
      },
    },
  });
  const client = new ByteSocket();
  const replies: string[] = [];
  let closes = 0;
  client.onData = (chunk) => replies.push(new TextDecoder().decode(chunk));
  client.onClose = () => closes++;
  try {
    // Written before the connection is open: queued, then flushed on open.
    expect(client.write(new TextEncoder().encode("first"))).toBe(false);
    await Bun.connect({ unix: path, allowHalfOpen: true, data: client, socket: byteSocketHandler });
    await until(() => peer, "the server side");
    const sent: number[] = [];
    let refused = 0;
    for (let i = 0; i < 32; i++) {
      const piece = new Uint8Array(MiB).fill(i);
      sent.push(i);
      if (!client.write(piece)) refused++;
    }
    expect(refused).toBeGreaterThan(0);
    let drained = false;
    void client.drained().then(() => (drained = true));
    await Bun.sleep(50);
    expect(drained).toBe(false);
    client.end();
    peer!.resume();
    await until(() => drained, "the queue to drain", 10_000);
    await until(() => peerSawEnd, "the FIN after the data", 10_000);
    const all = Buffer.concat(received);
    expect(all.subarray(0, 5).toString()).toBe("first");
    expect(all.length).toBe(5 + 32 * MiB);
    for (const i of sent) expect(all[5 + i * MiB]).toBe(i);
    expect(all[all.length - 1]).toBe(31);
    // Half-close: after our FIN the peer's reply still arrives, then the close, reported once.
    await until(() => closes === 1, "the close");
    expect(replies.join("")).toBe("after your end");
    expect(client.closed).toBe(true);
    expect(client.write(new Uint8Array(1))).toBe(true);
    client.destroy();
    expect(closes).toBe(1);
  } finally {
    client.destroy();
    listener.stop(true);
  }
}, 30_000);

test("destroy before the connection opens: the socket is closed as soon as it opens, and the close is reported", async () => {
  const path = join(tempDir(), "t.sock");
  let opened = 0;
  let peerClosed = false;
  const listener = Bun.listen<undefined>({
    unix: path,
    socket: {
      open() {
        opened++;
      },
      data() {},
      close() {
        peerClosed = true;
      },
    },
  });
  const client = new ByteSocket();
  let closes = 0;
  client.onClose = () => closes++;
  try {
    const connecting = Bun.connect({ unix: path, data: client, socket: byteSocketHandler });
    client.destroy();
    expect(closes).toBe(1);
    await connecting;
    await until(() => opened === 1 && peerClosed, "the server to see the close");
    expect(closes).toBe(1);
  } finally {
    listener.stop(true);
  }
}, 30_000);
