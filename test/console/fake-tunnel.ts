// The console's side of a tunnel (spec/upstream-2026.md §8.2-8.4) for tests and the benchmark: a WebSocket endpoint at
// /ws/tunnel/<session>/<token>/ (its own loopback server, or mounted on a FakeConsole's origin) and an smux v1 SERVER
// on each accepted socket: it opens streams with SYN (even ids), writes the metadata line, sends PSH frames of at most
// 32 KiB (waiting while the socket's send buffer is full) and reads what the agent sends back. Loopback only.
import type { Server, ServerWebSocket } from "bun";
import {
  Cmd,
  encodeFrame,
  encodeFrameInto,
  FrameDecoder,
  HEADER_SIZE,
  MAX_SEND_PAYLOAD,
} from "../../src/capabilities/tunnel/smux-frame.ts";
import type { FakeConsole } from "./fake-console.ts";
import type { MountedSocketData, SocketMount } from "./fake-console-types.ts";

export const TUNNEL_PATH = /^\/ws\/tunnel\/([A-Za-z0-9_-]+)\/([A-Za-z0-9_-]+)\/$/;
const SEND_HIGH_WATER = 1 << 20;

/** The handshake's headers (lower-case names) travel with the socket. */
type TunnelSocketData = MountedSocketData & { headers: Record<string, string> };

/** One stream the fake console opened. */
export class FakeStream {
  readonly chunks: Uint8Array[] = [];
  finReceived = false;
  private waiters: (() => void)[] = [];
  /** Bytes received so far. */
  received = 0;

  constructor(
    readonly id: number,
    private readonly conn: TunnelConnection,
  ) {}

  /** Sends `data` in PSH frames, waiting while the socket's buffer is over 1 MiB. */
  async write(data: Uint8Array | string): Promise<void> {
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
    for (let at = 0; at < bytes.length; at += MAX_SEND_PAYLOAD) {
      // Built in the connection's one buffer (sendBinary copies); a frame that has to wait gets its own copy.
      const frame = encodeFrameInto(this.conn.frameBuffer, Cmd.PSH, this.id, bytes.subarray(at, at + MAX_SEND_PAYLOAD));
      if (!this.conn.trySend(frame)) await this.conn.send(frame.slice());
    }
  }

  /** Sends FIN. */
  fin(): Promise<void> {
    return this.conn.send(encodeFrame(Cmd.FIN, this.id));
  }

  /** The next chunk the agent sent; null once it sent FIN and everything was read. */
  async read(): Promise<Uint8Array | null> {
    for (;;) {
      const chunk = this.chunks.shift();
      if (chunk) return chunk;
      if (this.finReceived || this.conn.closed) return null;
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  /** Everything until FIN, as text. */
  async readAll(): Promise<string> {
    const parts: Uint8Array[] = [];
    for (let chunk = await this.read(); chunk; chunk = await this.read()) parts.push(chunk);
    return Buffer.concat(parts).toString("utf8");
  }

  deliver(payload: Uint8Array): void {
    this.received += payload.length;
    this.chunks.push(payload);
    this.wake();
  }

  wake(): void {
    for (const wake of this.waiters.splice(0)) wake();
  }
}

/** One tunnel WebSocket the agent opened, with the smux server on it. */
export class TunnelConnection {
  readonly streams = new Map<number, FakeStream>();
  closed = false;
  closeCode: number | undefined;
  /** NOP frames from the agent (its keep-alive). */
  nops = 0;
  protocolError: string | undefined;
  private nextId = 2;
  // Every message arrives in a buffer of its own, so payloads may borrow it.
  private readonly decoder = new FrameDecoder(64 << 20, { borrow: true });
  private listeners: (() => void)[] = [];
  private drainWaiters: (() => void)[] = [];
  readonly frameBuffer = new Uint8Array(HEADER_SIZE + MAX_SEND_PAYLOAD);

  constructor(
    readonly session: string,
    readonly ws: ServerWebSocket<MountedSocketData>,
    readonly headers: Record<string, string>,
    private readonly drainEvents: boolean,
  ) {}

  /** The server's drain callback: the socket took some of its queue. */
  drained(): void {
    for (const wake of this.drainWaiters.splice(0)) wake();
  }

  /** Opens a stream (SYN) and writes its metadata line: an object as JSON, a string as given (no newline added). */
  async open(metadata: Record<string, unknown> | string = {}): Promise<FakeStream> {
    const stream = new FakeStream(this.nextId, this);
    this.nextId += 2;
    this.streams.set(stream.id, stream);
    await this.send(encodeFrame(Cmd.SYN, stream.id));
    await stream.write(typeof metadata === "string" ? metadata : `${JSON.stringify(metadata)}\n`);
    return stream;
  }

  /** Sends `frame` now when the socket's buffer has room; false (nothing sent) otherwise. */
  trySend(frame: Uint8Array): boolean {
    if (this.closed || this.ws.getBufferedAmount() > SEND_HIGH_WATER) return false;
    this.ws.sendBinary(frame);
    return true;
  }

  async send(frame: Uint8Array): Promise<void> {
    while (!this.closed && this.ws.getBufferedAmount() > SEND_HIGH_WATER) {
      // Woken by the server's drain callback where it has one (a server of its own), else polled.
      await new Promise<void>((resolve) => {
        this.drainWaiters.push(resolve);
        setTimeout(resolve, this.drainEvents ? 100 : 1);
      });
    }
    if (this.closed) throw new Error("the tunnel socket is closed");
    this.ws.sendBinary(frame);
  }

  receive(bytes: Uint8Array): void {
    this.decoder.push(bytes);
    for (;;) {
      const decoded = this.decoder.next();
      if (decoded.kind === "need-more") break;
      if (decoded.kind === "error") {
        this.protocolError = decoded.reason;
        this.ws.close(1002, "protocol error");
        break;
      }
      const { cmd, streamId, payload } = decoded.frame;
      const stream = this.streams.get(streamId);
      if (cmd === Cmd.NOP) this.nops++;
      else if (cmd === Cmd.PSH && stream) stream.deliver(payload);
      else if (cmd === Cmd.FIN && stream) {
        stream.finReceived = true;
        stream.wake();
      }
    }
    this.notify();
  }

  ended(code: number): void {
    this.closed = true;
    this.closeCode = code;
    this.drained();
    for (const stream of this.streams.values()) stream.wake();
    this.notify();
  }

  /** Resolves when the agent's side closed the socket. */
  async waitClosed(timeoutMs = 15_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error(`tunnel ${this.session}: socket never closed`);
      await new Promise<void>((resolve) => {
        this.listeners.push(resolve);
        setTimeout(resolve, 200);
      });
    }
    return this.closeCode ?? 0;
  }

  private notify(): void {
    for (const wake of this.listeners.splice(0)) wake();
  }
}

export class FakeTunnelConsole implements SocketMount {
  readonly url: string;
  readonly connections: TunnelConnection[] = [];
  private server: Server<MountedSocketData> | undefined;
  private readonly mounted: boolean;
  private waiters: (() => void)[] = [];

  /** `on`: served on that console's origin; otherwise on a server of its own (another origin). */
  constructor(on?: FakeConsole) {
    if (on) {
      this.mounted = true;
      this.url = on.url;
      on.mount(this);
      return;
    }
    this.mounted = false;
    this.server = Bun.serve<MountedSocketData>({
      hostname: "127.0.0.1",
      port: 0,
      fetch: (req, server) => this.handle(req, server) as Response | undefined,
      websocket: {
        idleTimeout: 0,
        sendPings: false,
        backpressureLimit: 64 << 20,
        open: (ws) => this.open(ws),
        message: (ws, message) => this.message(ws, message),
        close: (ws, code) => this.close(ws, code),
        drain: (ws) => this.connections.find((c) => c.ws === ws)?.drained(),
      },
    });
    this.url = `http://127.0.0.1:${this.server.port}`;
  }

  /** The absolute ws:// URL for opentunnel's data.url. */
  tunnelUrl(session: string, token = `tok${crypto.randomUUID().replace(/-/g, "")}`): string {
    return `${this.url.replace(/^http/, "ws")}/ws/tunnel/${session}/${token}/`;
  }

  connection(session: string): TunnelConnection | undefined {
    return this.connections.find((c) => c.session === session);
  }

  async waitForConnection(session: string, timeoutMs = 15_000): Promise<TunnelConnection> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const conn = this.connection(session);
      if (conn) return conn;
      if (Date.now() > deadline) throw new Error(`fake tunnel console: no connection for ${session}`);
      await new Promise<void>((resolve) => {
        this.waiters.push(resolve);
        setTimeout(resolve, 200);
      });
    }
  }

  handle(req: Request, server: Server<MountedSocketData>): Response | undefined | null {
    const url = new URL(req.url);
    const match = TUNNEL_PATH.exec(url.pathname);
    if (!match) return this.mounted ? null : new Response("not found", { status: 404 });
    const headers = Object.fromEntries(req.headers.entries());
    const data: TunnelSocketData = { channel: match[1]!, headers, ...(this.mounted ? { mount: this } : {}) };
    if (server.upgrade(req, { data })) return undefined;
    return new Response("Expected a WebSocket upgrade", { status: 400 });
  }

  open(ws: ServerWebSocket<MountedSocketData>): void {
    const session = ws.data.channel;
    this.connections.push(new TunnelConnection(session, ws, (ws.data as TunnelSocketData).headers, !this.mounted));
    for (const wake of this.waiters.splice(0)) wake();
  }

  message(ws: ServerWebSocket<MountedSocketData>, message: string | Buffer): void {
    const conn = this.connections.find((c) => c.ws === ws);
    conn?.receive(
      typeof message === "string"
        ? new TextEncoder().encode(message)
        : new Uint8Array(message.buffer, message.byteOffset, message.byteLength),
    );
  }

  close(ws: ServerWebSocket<MountedSocketData>, code: number): void {
    this.connections.find((c) => c.ws === ws)?.ended(code);
  }

  stop(): void {
    this.server?.stop(true);
  }
}
