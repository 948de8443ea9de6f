// A small stand-in for the console's websh side (console-dialects.md §5, §8 #8): the PTY socket at
// /ws/websh/pty/<id>/<token>/ (Authorization and Origin checked like the backhaul) and the 2025 recovery
// route POST /api/websh/pty-channels/ → 201 {websocket_url}. Loopback only; stop() leaves nothing behind.
import type { Server, ServerWebSocket } from "bun";
import type { FakeConsole } from "./fake-console.ts";
import { isAuthorized } from "./fake-console-routes.ts";
import type { MountedSocketData, SocketMount } from "./fake-console-types.ts";

export const PTY_PATH = /^\/ws\/websh\/pty\/([A-Za-z0-9_-]+)\/([A-Za-z0-9_-]+)\/$/;

/** One accepted PTY socket as the console saw it. */
export interface PtyChannel {
  channel: string;
  ws: ServerWebSocket<MountedSocketData>;
  /** Everything the agent sent, as bytes, in order. */
  received: Uint8Array[];
  receivedBytes: number;
  textFrames: number;
  binaryFrames: number;
  /** Set once the agent's socket closed: the code the console saw. */
  closeCode?: number;
  /** Keep only the first `keepBytes` bytes (a 20 MB burst is counted, not kept). */
  keepBytes: number;
  /** NUL bytes received (counts a burst from /dev/zero without keeping it), when countNul is set. */
  nulBytes: number;
  countNul: boolean;
  /** The last 64 KiB received (and 4 KiB before them), whatever keepBytes says. */
  readonly tail: Buffer;
  /** WebSocket ping frames received (counted on a server of its own; a mounted one leaves them to the console). */
  pings: number;
}

/** How much of the latest output `tail` holds: 64 KiB, plus 4 KiB before it for a needle cut by a frame. */
const TAIL_BYTES = (64 + 4) << 10;

class Channel implements PtyChannel {
  received: Uint8Array[] = [];
  receivedBytes = 0;
  textFrames = 0;
  binaryFrames = 0;
  closeCode?: number;
  keepBytes = 1 << 20;
  nulBytes = 0;
  countNul = true;
  pings = 0;
  /** The latest frames (views, not copies: every message has a buffer of its own), at least TAIL_BYTES together. */
  private recent: Uint8Array[] = [];
  private recentBytes = 0;

  constructor(
    readonly channel: string,
    readonly ws: ServerWebSocket<MountedSocketData>,
  ) {}

  /** Copied when read, so a 100 MB burst costs no copying here. */
  get tail(): Buffer {
    return Buffer.concat(this.recent).subarray(-TAIL_BYTES);
  }

  remember(bytes: Uint8Array): void {
    this.recent.push(bytes);
    this.recentBytes += bytes.length;
    while (this.recent.length > 1 && this.recentBytes - this.recent[0]!.length >= TAIL_BYTES)
      this.recentBytes -= this.recent.shift()!.length;
  }
}

export class FakePtyConsole implements SocketMount {
  readonly url: string;
  readonly channels: Channel[] = [];
  readonly refused: { path: string; reason: string }[] = [];
  readonly channelRequests: unknown[] = [];
  /** Headers (lower-case names) of every PTY socket handshake that reached the route. */
  readonly handshakes: Record<string, string>[] = [];
  /** Answer for POST pty-channels; default 201 with a fresh relative websocket_url. */
  channelStatus = 201;
  private server: Server<MountedSocketData> | undefined;
  private readonly mounted: boolean = false;
  private waiters: (() => void)[] = [];

  /**
   * `tls`: serve https/wss with this certificate (see fake-console-tls.ts). `on`: no server of its own; the
   * routes are served on that console's origin (what the real agent requires of a PTY URL).
   */
  constructor(
    private readonly creds: { id: string; key: string },
    tls?: { certPath: string; keyPath: string },
    on?: FakeConsole,
  ) {
    if (on) {
      this.mounted = true;
      this.url = on.url;
      on.mount(this);
      return;
    }
    this.server = Bun.serve<MountedSocketData>({
      hostname: "127.0.0.1",
      port: 0,
      ...(tls ? { tls: { cert: Bun.file(tls.certPath), key: Bun.file(tls.keyPath) } } : {}),
      fetch: (req, server) => this.handle(req, server) as Promise<Response | undefined>,
      websocket: {
        idleTimeout: 0,
        sendPings: false,
        // A slow browser: frames pile up in the kernel and the agent's socket, not here.
        backpressureLimit: 1 << 20,
        open: (ws) => this.open(ws),
        message: (ws, message) => this.message(ws, message),
        // Counted only: Bun answers every ping with a pong itself.
        ping: (ws) => {
          const ch = this.channelOf(ws);
          if (ch) ch.pings += 1;
          this.notify();
        },
        close: (ws, code) => this.close(ws, code),
      },
    });
    this.url = `${tls ? "https" : "http"}://127.0.0.1:${this.server.port}`;
  }

  open(ws: ServerWebSocket<MountedSocketData>): void {
    this.channels.push(new Channel(ws.data.channel, ws));
    this.notify();
  }

  message(ws: ServerWebSocket<MountedSocketData>, message: string | Buffer): void {
    const ch = this.channelOf(ws);
    if (!ch) return;
    const bytes =
      typeof message === "string"
        ? new TextEncoder().encode(message)
        : new Uint8Array(message.buffer, message.byteOffset, message.byteLength);
    if (typeof message === "string") ch.textFrames += 1;
    else ch.binaryFrames += 1;
    ch.receivedBytes += bytes.length;
    if (ch.countNul) for (let i = bytes.indexOf(0); i !== -1; i = bytes.indexOf(0, i + 1)) ch.nulBytes += 1;
    ch.remember(bytes);
    const kept = ch.received.reduce((n, b) => n + b.length, 0);
    if (kept < ch.keepBytes) ch.received.push(bytes.subarray(0, ch.keepBytes - kept));
    this.notify();
  }

  close(ws: ServerWebSocket<MountedSocketData>, code: number): void {
    const ch = this.channelOf(ws);
    if (ch) ch.closeCode = code;
    this.notify();
  }

  /** The absolute ws:// URL the 2025 console puts in openpty's data.url. */
  ptyUrl(channel = crypto.randomUUID().replace(/-/g, "")): string {
    return `${this.url.replace(/^http/, "ws")}/ws/websh/pty/${channel}/tok${channel.slice(0, 8)}/`;
  }

  channel(name?: string): PtyChannel | undefined {
    return name ? this.channels.find((c) => c.channel === name) : this.channels.at(-1);
  }

  /** Everything the agent sent on a channel so far, decoded as UTF-8. */
  text(ch: PtyChannel): string {
    return Buffer.concat(ch.received).toString("utf8");
  }

  async waitFor<T>(check: () => T | undefined | null | false, timeoutMs = 10_000, what = "a condition"): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = check();
      if (value) return value;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`fake pty console: timed out waiting for ${what}`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(left, 200));
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  /** Waits until the channel's output (as text) contains `needle`. */
  waitForText(ch: PtyChannel, needle: string, timeoutMs = 10_000): Promise<string> {
    return this.waitFor(
      () => {
        const text = this.text(ch);
        if (text.includes(needle)) return text;
        const tail = ch.tail.toString("utf8");
        return tail.includes(needle) ? tail : undefined;
      },
      timeoutMs,
      `${JSON.stringify(needle)} from the terminal; got ${JSON.stringify(this.text(ch).slice(-300))}`,
    );
  }

  stop(): void {
    this.server?.stop(true);
  }

  private channelOf(ws: ServerWebSocket<MountedSocketData>): Channel | undefined {
    return this.channels.find((c) => c.ws === ws);
  }

  private notify(): void {
    for (const wake of this.waiters.splice(0)) wake();
  }

  /** Mounted on a console, a request that is not ours is answered null: the console routes it. */
  async handle(req: Request, server: Server<MountedSocketData>): Promise<Response | undefined | null> {
    const url = new URL(req.url);
    const authorized = isAuthorized(req.headers.get("authorization") ?? undefined, this.creds);
    if (url.pathname === "/api/websh/pty-channels/" && req.method === "POST") {
      if (!authorized) return Response.json({ detail: "Authentication credentials were not provided." }, { status: 403 });
      this.channelRequests.push(await req.json().catch(() => null));
      this.notify();
      if (this.channelStatus !== 201) return Response.json({ detail: "unavailable" }, { status: this.channelStatus });
      const channel = crypto.randomUUID().replace(/-/g, "");
      return Response.json({ websocket_url: `/ws/websh/pty/${channel}/tok${channel.slice(0, 8)}/` }, { status: 201 });
    }
    const match = PTY_PATH.exec(url.pathname);
    if (!match) return this.mounted ? null : new Response("not found", { status: 404 });
    this.handshakes.push(Object.fromEntries(req.headers.entries()));
    const origin = req.headers.get("origin");
    const refuse = (reason: string) => {
      this.refused.push({ path: url.pathname, reason });
      this.notify();
      return new Response("Access denied", { status: 403 });
    };
    if (!origin || new URL(origin).origin !== new URL(this.url).origin) return refuse("origin");
    if (!authorized) return refuse("auth");
    if (server.upgrade(req, { data: { channel: match[1]!, ...(this.mounted ? { mount: this } : {}) } })) return undefined;
    return new Response("Expected a WebSocket upgrade", { status: 400 });
  }
}
