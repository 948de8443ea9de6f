// One tunnel (spec/upstream-2026.md §8.1-8.4): dials the tunnel WebSocket through the one dialer, runs an smux
// session over it, starts the relay helper and relays every accepted stream to its loopback port through the
// helper. No reconnect: when the socket or the session ends, the tunnel ends and removes itself. Logs name the
// URL's host only; its path carries a session token.
import type { PortRange } from "../../config/schema.ts";
import { dialWebSocket, type WebSocketClient } from "../../console/http.ts";
import type { Identity } from "../../exec/types.ts";
import type { Logger } from "../../log/logger.ts";
import type { Clock } from "../../platform/clock.ts";
import type { ByteSocket } from "./byte-socket.ts";
import type { EditorManager } from "./editor.ts";
import { readMetadata, targetPort } from "./metadata.ts";
import { type RelayDeps, type RelayHelper, startRelay } from "./relay.ts";
import { SmuxSession, type SmuxStream } from "./smux-session.ts";
import type { StreamSlots } from "./stream-slots.ts";
import { opened, webSocketTransport } from "./ws-transport.ts";

const HANDSHAKE_TIMEOUT_MS = 30_000;

export interface TunnelDeps {
  http: WebSocketClient;
  relay: RelayDeps;
  slots: StreamSlots;
  allowedPorts: readonly PortRange[];
  log: Logger;
  clock: Clock;
}

export interface TunnelSpec {
  sessionId: string;
  url: string;
  /** cli/web: the target port; editor: 0 (code-server's port once it is ready). */
  targetPort: number;
  /** Who the relay helper runs as: nobody (agent is root), else undefined (the agent's own user). */
  helperIdentity: () => Promise<Identity | undefined | { error: string }>;
  /** Editor tunnels: prepared before the socket is dialled (a failure ends the tunnel quietly). */
  editor?: () => Promise<{ editor: EditorManager } | { error: string }>;
}

/** Only the host: the path and query of a tunnel URL carry its session token. */
export function hostOf(url: string): string {
  try {
    return new URL(url).host;
  } catch {
    return "(invalid URL)";
  }
}

export class Tunnel {
  /** Resolves when the tunnel has ended and everything it started is gone. */
  readonly done: Promise<void>;
  private readonly stop = new AbortController();
  private session: SmuxSession | undefined;
  private relay: RelayHelper | undefined;
  private editor: EditorManager | undefined;
  private readonly sockets = new Set<ByteSocket>();
  private readonly log: Logger;

  constructor(
    readonly spec: TunnelSpec,
    private readonly deps: TunnelDeps,
    onEnd: (tunnel: Tunnel) => void,
  ) {
    this.log = deps.log.child("tunnel");
    this.done = this.run()
      .catch((err: unknown) => this.log.warn("tunnel failed", { session: spec.sessionId, error: err }))
      .finally(() => this.teardown())
      .finally(() => onEnd(this));
  }

  /** Ends the tunnel (closetunnel, shutdown); resolves once the helper and code-server are gone. */
  async close(reason: string): Promise<void> {
    if (!this.stop.signal.aborted) this.stop.abort(reason);
    this.session?.close(reason);
    await this.done;
  }

  private async run(): Promise<void> {
    const { spec, deps } = this;
    const host = hostOf(spec.url);
    const ended = new Promise<void>((resolve) => this.stop.signal.addEventListener("abort", () => resolve(), { once: true }));
    if (spec.editor) {
      const made = await spec.editor();
      if ("error" in made) {
        this.log.warn("editor tunnel not started", { session: spec.sessionId, error: made.error });
        return;
      }
      this.editor = made.editor;
    }
    const identity = await spec.helperIdentity();
    if (identity && "error" in identity) {
      this.log.warn("tunnel not started", { session: spec.sessionId, error: identity.error });
      return;
    }
    if (this.stop.signal.aborted) return;
    const relay = await startRelay(deps.relay, spec.sessionId, identity);
    if ("error" in relay) {
      this.log.warn("tunnel not started", { session: spec.sessionId, error: relay.error });
      return;
    }
    this.relay = relay;
    if (this.stop.signal.aborted) return;

    let ws: WebSocket;
    try {
      ws = dialWebSocket(deps.http, spec.url, { binaryType: "arraybuffer" });
    } catch (err) {
      this.log.warn("tunnel WebSocket could not be dialled", { session: spec.sessionId, host, error: (err as Error).message });
      return;
    }
    let session: SmuxSession | undefined;
    const transport = webSocketTransport(ws, (bytes) => session?.receive(bytes), deps.clock);
    try {
      await Promise.race([opened(ws, HANDSHAKE_TIMEOUT_MS), ended]);
    } catch (err) {
      // Bun's handshake errors may quote the URL; only the host is logged.
      this.log.warn("tunnel WebSocket did not open", {
        session: spec.sessionId,
        host,
        error: (err as Error).message.replaceAll(spec.url, host),
      });
      transport.close();
      return;
    }
    if (this.stop.signal.aborted) {
      transport.close();
      return;
    }
    session = new SmuxSession({ transport, clock: deps.clock, log: this.log, slots: deps.slots });
    this.session = session;
    void transport.closed.then((code) => session?.close(`the WebSocket closed (${code})`));
    this.log.info("tunnel connected", { session: spec.sessionId, host, port: spec.targetPort || undefined });
    for (;;) {
      const stream = await session.accept();
      if (!stream) break;
      void this.serve(stream).catch((err: unknown) => this.log.debug("tunnel stream failed", { session: spec.sessionId, error: err }));
    }
    const reason = await session.closed;
    this.log.info("tunnel closed", { session: spec.sessionId, reason });
  }

  private async teardown(): Promise<void> {
    this.session?.close("the tunnel ended");
    for (const sock of this.sockets) sock.destroy();
    // code-server first (§8.5.6), then the relay.
    await this.editor?.stop().catch((err: unknown) => this.log.warn("stopping the editor failed", { error: err }));
    await this.relay?.stop().catch((err: unknown) => this.log.warn("stopping the tunnel helper failed", { error: err }));
  }

  private async serve(stream: SmuxStream): Promise<void> {
    const meta = await readMetadata(stream);
    if (!meta.ok) {
      this.log.debug("tunnel stream refused", { session: this.spec.sessionId, stream: stream.id, reason: meta.reason });
      await stream.close();
      return;
    }
    if (meta.metadata.healthCheck && this.editor) {
      await stream.write(new TextEncoder().encode(this.editor.health())).catch(() => {});
      await stream.close();
      return;
    }
    const tunnelPort = this.editor ? this.editor.port : this.spec.targetPort;
    const target = targetPort(meta.metadata, tunnelPort, this.deps.allowedPorts);
    const relay = this.relay;
    if (!target.ok || !relay) {
      this.log.warn("tunnel stream refused", {
        session: this.spec.sessionId,
        stream: stream.id,
        reason: target.ok ? "the relay is gone" : target.reason,
      });
      await stream.close();
      return;
    }
    const sock = relay.connect(target.port, meta.rest);
    this.sockets.add(sock);
    try {
      await this.pipe(stream, sock);
    } finally {
      this.sockets.delete(sock);
      sock.destroy();
      await stream.close();
    }
  }

  /**
   * Relays until the target is done. The console's FIN half-closes the target's write side (§8.4.6); what the
   * target still sends comes back until it closes, then both ends are closed.
   */
  private async pipe(stream: SmuxStream, sock: ByteSocket): Promise<void> {
    const up = (async () => {
      for (;;) {
        const chunk = await stream.read();
        if (!chunk || sock.closed) break;
        if (!sock.write(chunk)) await sock.drained();
      }
      sock.end();
    })();
    let lastWrite: Promise<void> = Promise.resolve();
    let writing = 0;
    const down = new Promise<void>((resolve) => {
      let finished = false;
      const finish = () => {
        if (finished) return;
        finished = true;
        void lastWrite.then(resolve, resolve);
      };
      // Reading from the helper stops while a chunk is on its way to the console (the session's send queue).
      sock.onData = (chunk) => {
        if (writing++ === 0) sock.pause();
        // A socket read is a buffer of its own that nothing else holds: handed over whole.
        lastWrite = stream.writeOwned(chunk).then(
          () => {
            if (--writing === 0) sock.resume();
          },
          () => sock.destroy(),
        );
      };
      sock.onEnd = finish;
      sock.onClose = finish;
      if (sock.closed) finish();
    });
    await down;
    // The target is done: pending writes to it are moot.
    void up.catch(() => {});
  }
}
