// A tiny WebSocket server standing in for the console's file-manager socket: records the handshake headers,
// sends requests and waits for the replies in order. Loopback only; stop() closes everything.
import type { Server, ServerWebSocket } from "bun";

export class FakeFtp {
  readonly handshakes: { path: string; headers: Record<string, string> }[] = [];
  readonly replies: unknown[] = [];
  private socket: ServerWebSocket<undefined> | undefined;
  private waiters: (() => void)[] = [];
  closed = false;
  private readonly server: Server<undefined>;

  constructor() {
    this.server = Bun.serve<undefined>({
      hostname: "127.0.0.1",
      port: 0,
      fetch: (req, server) => {
        this.handshakes.push({ path: new URL(req.url).pathname, headers: Object.fromEntries(req.headers.entries()) });
        if (server.upgrade(req)) return undefined;
        return new Response("expected a websocket", { status: 400 });
      },
      websocket: {
        open: (ws) => {
          this.socket = ws;
          this.wake();
        },
        message: (_ws, message) => {
          this.replies.push(JSON.parse(String(message)));
          this.wake();
        },
        close: () => {
          this.closed = true;
          this.wake();
        },
      },
    });
  }

  get url(): string {
    return `http://127.0.0.1:${this.server.port}`;
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  async until(check: () => boolean, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
      if (Date.now() > deadline) throw new Error("fake ftp: timed out");
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 100);
      });
    }
  }

  /** Sends one request and returns its reply. */
  async request(
    command: string,
    data: object = {},
  ): Promise<{ command: string; success: boolean; code: number; data: Record<string, unknown> }> {
    await this.until(() => this.socket !== undefined);
    const before = this.replies.length;
    this.socket!.send(JSON.stringify({ command, data }));
    await this.until(() => this.replies.length > before);
    return this.replies[before] as never;
  }

  sendRaw(text: string): void {
    this.socket!.send(text);
  }

  close(): void {
    this.socket?.close(1000);
  }

  async stop(): Promise<void> {
    await this.server.stop(true);
  }
}
