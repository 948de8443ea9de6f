// Backpressure of a terminal without a timer: a slow console stops the terminal (tcflow), and the terminal
// restarts on the pong of the drain marker (a ping queued behind the output), never on a timer. The clock here
// never fires unless the test moves it, so a terminal that waited for one would stay stopped and the burst would
// never complete. Only a peer that never answers pings leaves the restart to the watchdog.
import { afterEach, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { DEFAULT_SESSION_SETTINGS, TerminalSession } from "../../../src/capabilities/terminal/session.ts";
import { ConsoleHttp } from "../../../src/console/http.ts";
import { silentLogger } from "../../../src/log/logger.ts";
import { eventually } from "../../console/fake-console-waits.ts";
import { FakePtyConsole } from "../../console/fake-pty.ts";
import { recordingClock } from "../../console/ws-peer.ts";
import { captureOn, marked, type } from "./markers.ts";

const creds = { id: "srv-drain-test", key: "k3y_for_drain_tests" };
const BURST = 20_000_000;
let fake: FakePtyConsole | undefined;
let session: TerminalSession | undefined;
let mute: Server | undefined;

afterEach(async () => {
  await session?.end("test over");
  fake?.stop();
  mute?.close();
  session = undefined;
  fake = undefined;
  mute = undefined;
});

const shell = { shell: "/bin/bash", env: { TERM: "xterm", PATH: "/usr/bin:/bin", HOME: "/tmp" }, cwd: "/tmp", rows: 24, cols: 80 };

test.skipIf(!existsSync("/bin/bash"))(
  "a throttled terminal restarts on the drain marker's pong, with no timer firing",
  async () => {
    fake = new FakePtyConsole(creds);
    const http = new ConsoleHttp({
      serverUrl: fake.url,
      ...creds,
      tls: { rejectUnauthorized: true },
      userAgent: "alpamon/test",
      log: silentLogger,
    });
    const clock = recordingClock();
    // Small marks, so the socket's queue passes the high-water mark soon after the kernel's buffers are full.
    const settings = { ...DEFAULT_SESSION_SETTINGS, highWaterBytes: 256 << 10, lowWaterBytes: 64 << 10 };
    session = new TerminalSession("drain", { http, log: silentLogger, clock, settings }, () => {});
    const channel = crypto.randomUUID().replace(/-/g, "");
    const failed = await session.open(fake.ptyUrl(channel), false, shell);
    expect(failed).toBeUndefined();
    const ch = fake.channel(channel)!;
    await captureOn(fake, ch, "r", "true");
    ch.keepBytes = 0;

    ch.ws.pause(); // the console stops reading
    const m = marked("big", `head -c ${BURST} /dev/zero`);
    type(ch, m.line);
    // Throttled: the marker went out behind the queued output and the watchdog for a peer that never answers
    // pings was armed (1 s on this clock, which never fires).
    await fake.waitFor(() => clock.sleeps.includes(1_000), 30_000, "the terminal to be throttled");
    const sleepsWhileThrottled = clock.sleeps.indexOf(1_000);
    ch.ws.resume();
    await fake.waitForText(ch, m.end, 60_000);
    expect(ch.nulBytes).toBe(BURST);
    expect(ch.pings).toBeGreaterThan(0);
    // Nothing but the unanswered-peer watchdog (which never fired) was asked of the clock for the drain.
    expect(clock.sleeps.slice(sleepsWhileThrottled).every((ms) => ms === 1_000)).toBe(true);
  },
  90_000,
);

/**
 * A WebSocket peer that never answers a ping (against RFC 6455): it completes the handshake, counts what it
 * receives without parsing it, and can send the terminal a line.
 */
async function mutePeer(): Promise<{
  url: string;
  received: () => number;
  socket: () => Socket | undefined;
  type: (line: string) => void;
}> {
  let received = 0;
  let socket: Socket | undefined;
  const server = createServer((s) => {
    let head = "";
    s.on("data", (chunk: Buffer) => {
      if (socket) {
        received += chunk.length;
        return;
      }
      head += chunk.toString("latin1");
      const key = /sec-websocket-key: *(\S+)/i.exec(head)?.[1];
      if (!head.includes("\r\n\r\n") || !key) return;
      const accept = createHash("sha1").update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest("base64");
      s.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
      socket = s;
    });
  });
  mute = server;
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  return {
    url: `ws://127.0.0.1:${port}/ws/websh/pty/mute/tok/`,
    received: () => received,
    socket: () => socket,
    // An unmasked binary frame (server to client), payload under 126 bytes.
    type: (line) => socket!.write(Buffer.concat([Buffer.from([0x82, line.length]), Buffer.from(line)])),
  };
}

test.skipIf(!existsSync("/bin/bash"))(
  "with a peer that never answers pings, the watchdog restarts the terminal once the queue has drained",
  async () => {
    const peer = await mutePeer();
    const http = new ConsoleHttp({
      serverUrl: peer.url.replace(/^ws:(\/\/[^/]+).*$/, "http:$1"),
      ...creds,
      tls: { rejectUnauthorized: true },
      userAgent: "alpamon/test",
      log: silentLogger,
    });
    const clock = recordingClock();
    const settings = { ...DEFAULT_SESSION_SETTINGS, highWaterBytes: 256 << 10, lowWaterBytes: 64 << 10 };
    session = new TerminalSession("mute", { http, log: silentLogger, clock, settings }, () => {});
    expect(await session.open(peer.url, false, shell)).toBeUndefined();
    peer.socket()!.pause(); // the peer stops reading
    peer.type(`head -c ${BURST} /dev/zero\n`);
    await eventually(() => clock.sleeps.includes(1_000), 30_000, "the terminal to be throttled");
    peer.socket()!.resume();
    // Nothing but the watchdog can restart it: move the clock on until the whole burst has come through.
    await eventually(
      () => {
        if (peer.received() >= BURST) return true;
        void clock.advance(1_000);
        return false;
      },
      60_000,
      "the burst after the watchdog",
    );
  },
  90_000,
);
