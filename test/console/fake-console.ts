// The fake Alpacon console every console-facing test runs against: a real HTTP + WebSocket server on
// 127.0.0.1 (optionally TLS with a throwaway CA) speaking the wire protocol of console-dialects.md §8 (2024,
// 2025) and upstream-2026.md §2 (2026: it pings, takes chunks, wants exit_code), recording everything and
// failing on demand. Never listens beyond loopback; stop() leaves no socket, timer or file.
import { rmSync } from "node:fs";
import type { Server, ServerWebSocket } from "bun";
import { type TestCertificates, generateCertificates } from "./fake-console-tls.ts";
import {
  type Chunk,
  type ConsoleState,
  type ExtraRoute,
  type Fin,
  type RecordedRequest,
  type Reply,
  isAck,
  isAuthorized,
  isFin,
  pathMatches,
  route,
} from "./fake-console-routes.ts";
import {
  type CommandToSend,
  type Fault,
  type FakeConsoleOptions,
  type FaultBehaviour,
  type FaultMatch,
  type MountedSocketData,
  type RecordedHandshake,
  type SocketMount,
  droppedResponse,
  randomKey,
  removeFrom,
} from "./fake-console-types.ts";
import { Waits } from "./fake-console-waits.ts";

export type { Chunk, ConsoleState, Dialect, Fin, RecordedRequest, Reply } from "./fake-console-routes.ts";
export type {
  CommandToSend,
  FakeConsoleOptions,
  FaultBehaviour,
  FaultMatch,
  RecordedHandshake,
  SocketMount,
} from "./fake-console-types.ts";

export const BACKHAUL_PATH = "/ws/servers/backhaul/";
const DEFAULT_WAIT_MS = 5_000;
/** The console's liveness ping (2026) and the agent's (2024/2025 agents after every inbound frame). */
export const PING_TEXT = '{"query":"ping"}';

export class FakeConsole {
  readonly requests: RecordedRequest[] = [];
  readonly handshakes: RecordedHandshake[] = [];
  readonly agentFrames: string[] = [];
  /** Close codes and reasons of backhaul sockets as the console saw them (1006 = no close frame). */
  readonly backhaulCloses: { code: number; reason: string }[] = [];
  /** WebSocket ping control frames received from agents. */
  agentPings = 0;
  /** {"query":"ping"} text frames this console sent (2026), each with the index agentFrames had then. */
  readonly consolePings: { at: number; framesBefore: number }[] = [];
  readonly state: ConsoleState;
  readonly url: string;
  readonly caCertPath: string | undefined;

  private readonly sockets = new Set<ServerWebSocket<MountedSocketData>>();
  private readonly faults: Fault[] = [];
  private readonly extraRoutes: ExtraRoute[] = [];
  private readonly waits = new Waits(() => `recent requests:\n${this.recentRequests()}`);
  private readonly commitOnConnect: boolean;
  private readonly pingOnConnect: boolean;
  private readonly pingIntervalMs: number;
  private readonly pingTimers = new Map<ServerWebSocket<MountedSocketData>, ReturnType<typeof setInterval>>();
  private readonly origin: string;
  private readonly server: Server<MountedSocketData>;
  private readonly mounts: SocketMount[] = [];
  private stopped = false;

  private constructor(
    options: FakeConsoleOptions,
    private readonly certs: TestCertificates | undefined,
  ) {
    const dialect = options.dialect ?? "2025";
    this.state = {
      id: options.id ?? crypto.randomUUID(),
      key: options.key ?? randomKey(),
      name: "fake-server",
      dialect,
      commissioned: options.commissioned ?? false,
      startedAt: null,
      commands: new Map(),
      lastCommit: undefined,
      isConnected: () => this.sockets.size > 0,
    };
    this.commitOnConnect = options.commitOnConnect ?? dialect === "2024";
    this.pingOnConnect = options.pingOnConnect ?? dialect === "2026";
    this.pingIntervalMs = options.pingIntervalMs ?? 0;
    this.caCertPath = certs?.caCertPath;
    this.server = Bun.serve<MountedSocketData>({
      hostname: "127.0.0.1",
      port: 0,
      idleTimeout: 30,
      ...(certs ? { tls: { cert: Bun.file(certs.certPath), key: Bun.file(certs.keyPath) } } : {}),
      fetch: (req, server) => this.handle(req, server),
      websocket: {
        // No server-side pings and no idle cut: what keeps the link alive is the agent's job under test.
        idleTimeout: 0,
        sendPings: false,
        open: (ws) => {
          if (ws.data.mount) return ws.data.mount.open(ws);
          this.sockets.add(ws);
          if (this.commitOnConnect) ws.send(JSON.stringify({ query: "commit" }));
          if (this.pingOnConnect) this.pingSocket(ws);
          if (this.pingIntervalMs > 0)
            this.pingTimers.set(
              ws,
              setInterval(() => this.pingSocket(ws), this.pingIntervalMs),
            );
          this.notify();
        },
        message: (ws, message) => {
          if (ws.data.mount) return ws.data.mount.message(ws, message);
          if (typeof message === "string") this.agentFrames.push(message);
          this.notify();
        },
        ping: () => {
          this.agentPings += 1;
          this.notify();
        },
        close: (ws, code, reason) => {
          if (ws.data.mount) return ws.data.mount.close(ws, code);
          this.sockets.delete(ws);
          clearInterval(this.pingTimers.get(ws));
          this.pingTimers.delete(ws);
          this.backhaulCloses.push({ code, reason });
          this.notify();
        },
      },
    });
    this.url = `${certs ? "https" : "http"}://127.0.0.1:${this.server.port}`;
    this.origin = new URL(this.url).origin;
  }

  static async start(options: FakeConsoleOptions = {}): Promise<FakeConsole> {
    const certs = options.tls ? await generateCertificates() : undefined;
    try {
      return new FakeConsole(options, certs);
    } catch (err) {
      if (certs) rmSync(certs.dir, { recursive: true, force: true });
      throw err;
    }
  }

  get id(): string {
    return this.state.id;
  }

  get key(): string {
    return this.state.key;
  }

  /** The ws(s):// URL of the backhaul. */
  get backhaulUrl(): string {
    return this.url.replace(/^http/, "ws") + BACKHAUL_PATH;
  }

  setCommissioned(value: boolean): void {
    this.state.commissioned = value;
  }

  backhaulCount(): number {
    return this.sockets.size;
  }

  acceptedHandshakes(): number {
    return this.handshakes.filter((h) => h.accepted).length;
  }

  /** Sends a raw frame to every open backhaul socket; returns how many got it. */
  sendFrame(frame: string | object): number {
    const text = typeof frame === "string" ? frame : JSON.stringify(frame);
    this.rememberCommand(text);
    for (const ws of this.sockets) ws.send(text);
    return this.sockets.size;
  }

  /** Sends {"query":"ping"} on every open backhaul, as a 2026 console does; returns how many got it. */
  sendPing(): number {
    for (const ws of this.sockets) this.pingSocket(ws);
    return this.sockets.size;
  }

  /** The agent's {"query":"ping"} text frames so far. */
  agentPingFrames(): number {
    return this.agentFrames.filter((f) => f === PING_TEXT).length;
  }

  /** The agent's {"query":"pong",…} frames so far, parsed. */
  pongs(): { query: string; timestamp: string }[] {
    return this.agentFrames.filter((f) => f.startsWith('{"query":"pong"')).map((f) => JSON.parse(f));
  }

  /** The chunks the agent streamed for `id`, in seq order (2026). */
  chunks(id: string): Chunk[] {
    return [...(this.state.commands.get(id)?.chunks ?? [])].sort((a, b) => a.seq - b.seq);
  }

  sendBinary(data: Uint8Array): void {
    for (const ws of this.sockets) ws.sendBinary(data);
  }

  /** Sends {"query":"command",…} like the console does; returns the command id. */
  sendCommand(cmd: CommandToSend): string {
    const id = cmd.id ?? crypto.randomUUID();
    const command: Record<string, unknown> = {
      id,
      shell: cmd.shell ?? "system",
      line: cmd.line,
      user: cmd.user ?? "",
      group: cmd.group ?? "",
    };
    if (cmd.env !== undefined) command.env = cmd.env;
    if (cmd.allow_sh !== undefined) command.allow_sh = cmd.allow_sh;
    if (cmd.data !== undefined) command.data = cmd.data === null || typeof cmd.data === "string" ? cmd.data : JSON.stringify(cmd.data);
    if (cmd.analyzed_at !== undefined) command.analyzed_at = cmd.analyzed_at;
    if (cmd.key_id !== undefined) command.key_id = cmd.key_id;
    if (cmd.signature !== undefined) command.signature = cmd.signature;
    else if (cmd.signer) {
      const fields = {
        id,
        shell: command.shell as string,
        line: cmd.line,
        user: cmd.user ?? "",
        group: cmd.group ?? "",
        analyzed_at: cmd.analyzed_at ?? "",
      };
      command.signature = cmd.signer.sign(fields, this.state.id);
      if (cmd.withKeyId ?? true) command.key_id ??= cmd.signer.keyId;
    }
    this.sendFrame({ query: "command", command });
    return id;
  }

  /** Cuts every backhaul socket with no close frame (the agent sees 1006). */
  dropBackhaul(): void {
    for (const ws of this.sockets) ws.terminate();
  }

  closeBackhaul(code = 1000, reason = ""): void {
    for (const ws of this.sockets) ws.close(code, reason);
  }

  /** Stops reading every open backhaul socket: agent pings go unanswered, like a peer that vanished. */
  freezeBackhaul(): void {
    for (const ws of this.sockets) ws.pause();
  }

  /** Answers matching requests (HTTP or the WS handshake) with errors, delays or dropped connections. */
  fault(match: FaultMatch, behaviour: FaultBehaviour): { clear(): void } {
    const fault: Fault = {
      ...match,
      behaviour,
      remaining: behaviour.times ?? Number.POSITIVE_INFINITY,
      until: behaviour.forMs === undefined ? Number.POSITIVE_INFINITY : Date.now() + behaviour.forMs,
    };
    this.faults.push(fault);
    return { clear: () => removeFrom(this.faults, fault) };
  }

  /** Adds a route (authenticated like the others), checked before the built-in ones. */
  route(method: string, path: string | RegExp, handle: ExtraRoute["handle"]): { clear(): void } {
    const added: ExtraRoute = { method, path, handle };
    this.extraRoutes.push(added);
    return { clear: () => removeFrom(this.extraRoutes, added) };
  }

  /** Resolves with check()'s first truthy value, re-checked on every recorded event. */
  waitUntil<T>(check: () => T | undefined | null | false, timeoutMs = DEFAULT_WAIT_MS, what = "a condition"): Promise<T> {
    return this.waits.until(check, timeoutMs, what);
  }

  async waitForBackhaul(timeoutMs = DEFAULT_WAIT_MS): Promise<void> {
    await this.waitUntil(() => this.sockets.size > 0, timeoutMs, "an open backhaul");
  }

  waitForRequest(pred: (r: RecordedRequest) => boolean, timeoutMs = DEFAULT_WAIT_MS): Promise<RecordedRequest> {
    return this.waitUntil(() => this.requests.find(pred), timeoutMs, "a matching request");
  }

  waitForAgentFrame(pred: (frame: string) => boolean, timeoutMs = DEFAULT_WAIT_MS): Promise<string> {
    return this.waitUntil(() => this.agentFrames.find(pred), timeoutMs, "a matching agent frame");
  }

  /** The first accepted ack of `id` in either dialect's form. */
  waitForAck(id: string, timeoutMs = DEFAULT_WAIT_MS): Promise<RecordedRequest> {
    return this.waitUntil(() => this.requests.find((r) => isAck(r, id)), timeoutMs, `the ack of ${id}`);
  }

  /** The first accepted fin of `id` in either dialect's form, as the agent sent it (before any trimming). */
  async waitForFin(id: string, timeoutMs = DEFAULT_WAIT_MS): Promise<Fin> {
    const request = await this.waitUntil(() => this.requests.find((r) => isFin(r, id)), timeoutMs, `the fin of ${id}`);
    const body = request.json as Record<string, unknown>;
    const fin: Fin = { success: body.success as boolean, result: body.result as string, elapsed_time: body.elapsed_time as number };
    if (typeof body.exit_code === "number") fin.exit_code = body.exit_code;
    return fin;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.waits.failAll("fake console stopped");
    for (const timer of this.pingTimers.values()) clearInterval(timer);
    this.pingTimers.clear();
    await this.server.stop(true);
    this.sockets.clear();
    if (this.certs) rmSync(this.certs.dir, { recursive: true, force: true });
  }

  /** Serves another WebSocket endpoint (and its routes) on this console's origin; see SocketMount. */
  mount(mount: SocketMount): void {
    this.mounts.push(mount);
  }

  private async handle(req: Request, server: Server<MountedSocketData>): Promise<Response | undefined> {
    for (const mount of this.mounts) {
      const answer = await mount.handle(req, server);
      if (answer !== null) return answer;
    }
    const url = new URL(req.url);
    const headers = Object.fromEntries(req.headers.entries());
    if (url.pathname === BACKHAUL_PATH) return this.handshake(req, server, url.pathname, headers);
    const body = await req.text();
    const recorded: RecordedRequest = { method: req.method, path: url.pathname, search: url.search, headers, body, at: Date.now() };
    if (body !== "") {
      try {
        recorded.json = JSON.parse(body);
      } catch {
        // recorded as text only
      }
    }
    this.requests.push(recorded);
    this.notify();
    const fault = this.takeFault(req.method, url.pathname);
    if (fault?.delayMs) await this.waits.sleep(fault.delayMs);
    if (fault?.drop) return this.settle(recorded, 0, droppedResponse());
    if (fault?.status !== undefined)
      return this.reply(recorded, { status: fault.status, body: fault.body ?? { detail: "fault injected" } });
    return this.reply(recorded, route(recorded, this.state, this.extraRoutes));
  }

  /** WS handshakes: Origin first (the console's validator wraps the auth middleware), then credentials. */
  private async handshake(req: Request, server: Server<MountedSocketData>, path: string, headers: Record<string, string>) {
    const record: RecordedHandshake = { path, headers, accepted: false, status: 0, at: Date.now() };
    this.handshakes.push(record);
    const fault = this.takeFault(req.method, path);
    if (fault?.delayMs) await this.waits.sleep(fault.delayMs);
    if (fault?.drop) return this.settleHandshake(record, 0, "fault", droppedResponse());
    if (fault?.status !== undefined)
      return this.settleHandshake(record, fault.status, "fault", new Response(fault.body ?? "", { status: fault.status }));
    if (!this.originAllowed(headers.origin))
      return this.settleHandshake(record, 403, "origin", new Response("Access denied", { status: 403 }));
    if (!isAuthorized(headers.authorization, this.state))
      return this.settleHandshake(record, 403, "auth", new Response("Access denied", { status: 403 }));
    if (server.upgrade(req, { data: { channel: "backhaul" } })) {
      record.accepted = true;
      record.status = 101;
      this.notify();
      return undefined;
    }
    return this.settleHandshake(record, 400, "not-websocket", new Response("Expected a WebSocket upgrade", { status: 400 }));
  }

  private settleHandshake(record: RecordedHandshake, status: number, refused: RecordedHandshake["refused"], response: Response): Response {
    record.status = status;
    record.refused = refused;
    this.notify();
    return response;
  }

  /** Like the console's host check: the Origin's scheme, host and port must be the console's own. */
  private originAllowed(origin: string | undefined): boolean {
    if (!origin) return false;
    try {
      return new URL(origin).origin === this.origin;
    } catch {
      return false;
    }
  }

  private reply(recorded: RecordedRequest, reply: Reply): Response {
    const isText = typeof reply.body === "string" || reply.body === undefined;
    const text = reply.body === undefined ? "" : typeof reply.body === "string" ? reply.body : JSON.stringify(reply.body);
    const headers = { ...(isText ? {} : { "Content-Type": "application/json" }), ...reply.headers };
    return this.settle(recorded, reply.status, new Response(text, { status: reply.status, headers }));
  }

  private settle(recorded: RecordedRequest, status: number, response: Response): Response {
    recorded.status = status;
    this.notify();
    return response;
  }

  private takeFault(method: string, path: string): FaultBehaviour | undefined {
    const now = Date.now();
    const fault = this.faults.find(
      (f) => f.remaining > 0 && now < f.until && (!f.method || f.method.toUpperCase() === method) && pathMatches(f.path, path),
    );
    if (!fault) return undefined;
    fault.remaining -= 1;
    return fault.behaviour;
  }

  /** Registers command ids the console sent, so acks and fins for them are accepted. */
  private rememberCommand(text: string): void {
    let frame: unknown;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    const command = (frame as { command?: { id?: unknown } } | null)?.command;
    if (typeof command?.id !== "string" || this.state.commands.has(command.id)) return;
    this.state.commands.set(command.id, {
      id: command.id,
      success: null,
      result: null,
      elapsed_time: null,
      acked_at: null,
      handled_at: null,
      chunks: [],
    });
  }

  private pingSocket(ws: ServerWebSocket<MountedSocketData>): void {
    if (ws.readyState !== 1) return;
    this.consolePings.push({ at: Date.now(), framesBefore: this.agentFrames.length });
    ws.send(PING_TEXT);
    this.notify();
  }

  private notify(): void {
    this.waits.notify();
  }

  private recentRequests(): string {
    const lines = this.requests.slice(-8).map((r) => `  ${r.method} ${r.path} → ${r.status ?? "pending"}`);
    return lines.length > 0 ? lines.join("\n") : "  (none)";
  }
}
