// The backhaul: the agent's one WebSocket to the console. It connects, keeps the link provably alive (ping
// frames plus a dead-peer timer), follows each inbound text frame with {"query":"ping"} until the console pings
// on that connection itself (then it answers pongs instead), and reconnects forever with jittered backoff. It
// never parses frames (the router does) and never lets a frame or handler error out.
import type { Logger } from "../log/logger.ts";
import { type Clock, systemClock } from "../platform/clock.ts";
import { fullJitterDelay } from "./backoff.ts";
import { dialWebSocket, type WebSocketClient } from "./http.ts";
import { PING_FRAME, pongFrame } from "./protocol.ts";

export const BACKHAUL_PATH = "/ws/servers/backhaul/";

/**
 * Reconnect delays: full jitter over base·2^attempt, capped. The first attempt after a drop is spread over
 * 35 s (17.5 s on average) because every agent of a console that restarts drops at the same instant: with a
 * 5 s window 10,000 agents dial at 6-8× their mean rate, with 35 s below 2× (bench/storm.ts).
 */
export const BACKHAUL_BACKOFF = { baseMs: 35_000, capMs: 45_000 } as const;
/** The window of the first attempt after the console's own {"query":"reconnect"}. */
const REQUESTED_RECONNECT_MS = 5_000;

/**
 * The reconnect backoff from ALPAMON_BACKHAUL_BACKOFF_MS="<base>,<cap>" (the agent tests use it to reconnect
 * within seconds; a lab with a handful of agents may too), else BACKHAUL_BACKOFF. Bad values are ignored.
 */
export function backhaulBackoff(env: Record<string, string | undefined>): { baseMs: number; capMs: number } {
  const m = /^\s*(\d{1,7})\s*,\s*(\d{1,7})\s*$/.exec(env.ALPAMON_BACKHAUL_BACKOFF_MS ?? "");
  if (!m) return { ...BACKHAUL_BACKOFF };
  const baseMs = Number(m[1]);
  return { baseMs, capMs: Math.max(baseMs, Number(m[2])) };
}

/** How the backhaul reaches the console: through the console's client and its one WebSocket dialer. */
interface BackhaulDial {
  http: WebSocketClient;
}

export type BackhaulOptions = BackhaulDial & BackhaulSettings;

interface BackhaulSettings {
  /** ws(s)://…/ws/servers/backhaul/; see backhaulUrl(). */
  url: string;
  log: Logger;
  clock?: Clock;
  random?: () => number;
  /** Every inbound text frame, unparsed. May throw: the error is logged and the socket stays up. */
  onText: (text: string) => void;
  onOpen?: () => void;
  /** A handshake that has not completed after this long is abandoned. Default 15 s. */
  connectTimeoutMs?: number;
  /** WebSocket ping frames are sent this often. Default 30 s. */
  pingIntervalMs?: number;
  /** No frame of any kind (message, ping, pong) for this long → drop and reconnect. Default 75 s. */
  deadPeerMs?: number;
  /** Reconnect delays: full jitter over base·2^attempt, capped. Default BACKHAUL_BACKOFF (35 s → 45 s). */
  backoff?: { baseMs: number; capMs: number };
  /** A connection that stayed up this long resets the backoff. Default 60 s. */
  stableMs?: number;
  /** How long a graceful close waits for the console's close frame before the socket is cut. Default 5 s. */
  closeWaitMs?: number;
}

/** The backhaul URL for a server URL: http→ws, https→wss, any path prefix kept. */
export function backhaulUrl(serverUrl: string): string {
  const url = new URL(serverUrl);
  if (url.protocol === "http:") url.protocol = "ws:";
  else if (url.protocol === "https:") url.protocol = "wss:";
  else throw new Error(`server URL must be http:// or https://: ${serverUrl}`);
  url.pathname = url.pathname.replace(/\/+$/, "") + BACKHAUL_PATH;
  url.search = "";
  url.hash = "";
  return url.toString();
}

type Cancel = () => void;
type TimerName = "connect" | "ping" | "dead" | "retry";
type DownEvent = "failed" | "closed" | "dead" | "timeout" | "reconnect";

const MAX_CLOSE_REASON_BYTES = 123; // RFC 6455: the close payload is at most 125 bytes, 2 of them the code

function truncateUtf8(text: string, maxBytes: number): string {
  let out = text;
  while (Buffer.byteLength(out) > maxBytes) out = out.slice(0, -1);
  return out;
}

/** "WebSocket connection to '…' failed: Expected 101 status code: 403" → the part after "failed: ". */
function failureReason(message: string | undefined): string | undefined {
  if (!message) return undefined;
  return message.replace(/^WebSocket connection to '[^']*' failed: /, "");
}

export class Backhaul {
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly connectTimeoutMs: number;
  private readonly pingIntervalMs: number;
  private readonly deadPeerMs: number;
  private readonly baseMs: number;
  private readonly capMs: number;
  private readonly stableMs: number;
  private readonly closeWaitMs: number;

  private readonly client: WebSocketClient;
  /** The one socket this backhaul cares about; events from any other socket are ignored. */
  private ws: WebSocket | null = null;
  /** The socket whose frame is being handled (onText runs synchronously): a pong goes back on it. */
  private handling: WebSocket | null = null;
  /** The socket on which the console has pinged: no agent pings on it any more. A new socket starts over. */
  private consolePinged: WebSocket | null = null;
  private connectedAt: number | null = null;
  private lastInboundAt = 0;
  private lastError: string | undefined;
  private attempt = 0;
  private started = false;
  private stopped = false;
  private authFailureLogged = false;
  /** The failure last logged at warn in this streak of failed dials: a repeat goes to debug, not warn. */
  private failureLogged: string | undefined;
  private readonly timers: Partial<Record<TimerName, Cancel>> = {};
  /** Sockets being closed gracefully; stop() waits for them. */
  private readonly retiring = new Set<Promise<void>>();

  constructor(private readonly options: BackhaulOptions) {
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 15_000;
    this.pingIntervalMs = options.pingIntervalMs ?? 30_000;
    this.deadPeerMs = options.deadPeerMs ?? 75_000;
    this.baseMs = options.backoff?.baseMs ?? BACKHAUL_BACKOFF.baseMs;
    this.capMs = options.backoff?.capMs ?? BACKHAUL_BACKOFF.capMs;
    this.stableMs = options.stableMs ?? 60_000;
    this.closeWaitMs = options.closeWaitMs ?? 5_000;
    this.client = options.http;
  }

  get isOpen(): boolean {
    return this.ws !== null && this.connectedAt !== null && this.ws.readyState === WebSocket.OPEN;
  }

  /** Connects at once (the first attempt is never delayed). A Backhaul starts once; after stop() it stays down. */
  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    this.connect();
  }

  /** Sends close 1000, waits (bounded by closeWaitMs) for the console's close, and never reconnects. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    this.cancelTimers("connect", "ping", "dead", "retry");
    const ws = this.ws;
    if (ws) this.retire(ws, 1000, "agent stopping");
    await Promise.all([...this.retiring]);
    if (this.started) this.options.log.info("backhaul stopped");
  }

  /** Closes the current socket gracefully and dials again after a jittered delay. */
  reconnect(reason: string): void {
    if (!this.started || this.stopped) return;
    const ws = this.ws;
    if (!ws && this.timers.retry) {
      this.options.log.debug("backhaul reconnect requested while already waiting to reconnect", { reason });
      return;
    }
    if (ws) this.retire(ws, 1000, reason);
    this.down("reconnect", { reason });
  }

  /**
   * Answers the console's {"query":"ping"} with a pong on the socket the ping came from, and stops the agent's
   * own ping frames on that connection: a console that pings (2026) keeps its session alive itself, and upstream
   * agents no longer send pings (upstream-2026.md §2.1). A write error is logged at debug and ignored.
   */
  answerPing(): void {
    const ws = this.handling ?? this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return;
    this.consolePinged = ws;
    try {
      ws.send(pongFrame(this.clock.now()));
    } catch (err) {
      this.options.log.debug("backhaul pong not sent", { error: err });
    }
  }

  /** Sends a text frame if the socket is open; false when it is not (the caller decides what to do). */
  send(frame: string): boolean {
    const ws = this.ws;
    if (!ws || !this.isOpen) return false;
    try {
      ws.send(frame);
      return true;
    } catch (err) {
      this.options.log.warn("backhaul send failed", { error: err });
      return false;
    }
  }

  private connect(): void {
    this.cancelTimers("retry");
    if (this.stopped) return;
    let ws: WebSocket;
    try {
      ws = dialWebSocket(this.client, this.options.url);
    } catch (err) {
      this.lastError = (err as Error).message;
      this.down("failed", {});
      return;
    }
    this.ws = ws;
    this.connectedAt = null;
    this.lastError = undefined;
    ws.addEventListener("open", () => this.ws === ws && this.onOpen(ws));
    ws.addEventListener("message", (ev) => this.ws === ws && this.onMessage(ws, ev));
    ws.addEventListener("ping", () => this.ws === ws && this.touch());
    ws.addEventListener("pong", () => this.ws === ws && this.touch());
    ws.addEventListener("error", (ev) => {
      if (this.ws === ws) this.lastError = failureReason((ev as ErrorEvent).message) ?? "connection error";
    });
    ws.addEventListener("close", (ev) => this.ws === ws && this.onClose(ev));
    this.timers.connect = this.after(this.connectTimeoutMs, () => {
      if (this.ws !== ws || this.connectedAt !== null) return;
      this.retire(ws);
      this.down("timeout", { timeout_ms: this.connectTimeoutMs });
    });
  }

  private onOpen(ws: WebSocket): void {
    this.cancelTimers("connect");
    this.connectedAt = this.clock.monotonic();
    this.lastInboundAt = this.connectedAt;
    this.authFailureLogged = false;
    this.failureLogged = undefined;
    this.options.log.info("backhaul connected", { url: this.options.url });
    this.schedulePing(ws);
    this.watchPeer(ws);
    try {
      this.options.onOpen?.();
    } catch (err) {
      this.options.log.error("backhaul open handler failed", { error: err });
    }
  }

  private onMessage(ws: WebSocket, ev: MessageEvent): void {
    this.touch();
    const data: unknown = ev.data;
    if (typeof data !== "string") {
      this.options.log.debug("binary backhaul frame ignored", { bytes: (data as { byteLength?: number }).byteLength });
      return;
    }
    this.handling = ws;
    try {
      this.options.onText(data);
    } catch (err) {
      this.options.log.error("backhaul frame handler failed", { error: err, bytes: data.length });
    } finally {
      this.handling = null;
    }
    // The 2024/2025 consoles refresh their session on any frame from the agent and never ping: the reference
    // pings after every inbound frame. Sent after handling, so a console's ping is answered by the very next
    // frame (its pong) and that connection gets no more agent pings.
    if (this.consolePinged === ws || ws.readyState !== WebSocket.OPEN) return;
    try {
      ws.send(PING_FRAME);
    } catch (err) {
      this.options.log.debug("backhaul ping frame not sent", { error: err });
    }
  }

  private onClose(ev: CloseEvent): void {
    const wasOpen = this.connectedAt !== null;
    const ws = this.ws;
    if (ws) this.retire(ws);
    if (wasOpen) this.down("closed", { code: ev.code, ...(ev.reason ? { reason: ev.reason } : {}) });
    else this.down("failed", { code: ev.code });
  }

  private touch(): void {
    this.lastInboundAt = this.clock.monotonic();
  }

  private schedulePing(ws: WebSocket): void {
    this.timers.ping = this.after(this.pingIntervalMs, () => {
      if (this.ws !== ws) return;
      try {
        ws.ping();
      } catch (err) {
        this.options.log.debug("backhaul ping not sent", { error: err });
      }
      this.schedulePing(ws);
    });
  }

  /** One timer, re-armed for the remaining silence budget, instead of one timer reset per frame. */
  private watchPeer(ws: WebSocket): void {
    const silentMs = this.clock.monotonic() - this.lastInboundAt;
    if (silentMs >= this.deadPeerMs) {
      this.retire(ws);
      this.down("dead", { silent_ms: Math.round(silentMs) });
      return;
    }
    this.timers.dead = this.after(this.deadPeerMs - silentMs, () => this.ws === ws && this.watchPeer(ws));
  }

  /**
   * Forgets `ws` (its late events are ignored from here on) and closes it: gracefully when a code is given and
   * the socket is open (cut after closeWaitMs if the console never answers), abruptly otherwise.
   */
  private retire(ws: WebSocket, code?: number, reason = ""): void {
    if (this.ws === ws) {
      this.ws = null;
      this.cancelTimers("connect", "ping", "dead");
    }
    if (ws.readyState === WebSocket.CLOSED) return;
    if (code === undefined || ws.readyState !== WebSocket.OPEN) {
      ws.terminate();
      return;
    }
    const closed = new Promise<void>((resolve) => {
      const cut = this.after(this.closeWaitMs, () => {
        ws.terminate();
        resolve();
      });
      ws.addEventListener(
        "close",
        () => {
          cut();
          resolve();
        },
        { once: true },
      );
      try {
        ws.close(code, truncateUtf8(reason, MAX_CLOSE_REASON_BYTES));
      } catch {
        ws.terminate();
        cut();
        resolve();
      }
    });
    this.retiring.add(closed);
    void closed.then(() => this.retiring.delete(closed));
  }

  /**
   * The one place a lost or failed connection is handled: reset the backoff if the link had been stable, log
   * one line, schedule the next attempt. Resetting on a stable period rather than on the first message matters
   * because the 2024 console sends {"query":"commit"} on every connect: a console that accepts and then drops
   * at once must still see the agent back off.
   */
  private down(event: DownEvent, fields: Record<string, unknown>): void {
    const now = this.clock.monotonic();
    if (this.connectedAt !== null && now - this.connectedAt >= this.stableMs) this.attempt = 0;
    this.connectedAt = null;
    if (this.stopped) return;
    // A reconnect the console asked for goes within 5 s, as before: it is the console's to stagger, not a storm.
    const base = event === "reconnect" && this.attempt === 0 ? Math.min(this.baseMs, REQUESTED_RECONNECT_MS) : this.baseMs;
    const delay = fullJitterDelay(this.attempt, base, this.capMs, this.random);
    this.attempt += 1;
    this.logDown(event, { ...fields, retry_in_ms: delay });
    this.cancelTimers("retry");
    this.timers.retry = this.after(delay, () => {
      this.timers.retry = undefined;
      this.connect();
    });
  }

  private logDown(event: DownEvent, fields: Record<string, unknown>): void {
    const log = this.options.log;
    switch (event) {
      case "failed": {
        const reason = this.lastError ?? "connection closed before the handshake completed";
        const status = /status code: (\d{3})\b/.exec(reason)?.[1];
        if (status === "401" || status === "403") {
          // Once per failure streak: a wrong key would otherwise fill the log every minute, forever.
          if (this.authFailureLogged) {
            log.debug("backhaul handshake refused again", { status, ...fields });
            return;
          }
          this.authFailureLogged = true;
          log.error(`the console refused the backhaul handshake (${status}): check [server] id and key`, {
            url: this.options.url,
            ...fields,
          });
          return;
        }
        if (this.failureLogged === reason) {
          log.debug("backhaul connection failed again", { reason, ...fields });
          return;
        }
        this.failureLogged = reason;
        log.warn("backhaul connection failed", { reason, ...fields });
        return;
      }
      case "closed": {
        const normal = fields.code === 1000 || fields.code === 1001;
        (normal ? log.info : log.warn)("backhaul connection closed", fields);
        return;
      }
      case "dead":
        log.warn("backhaul peer went silent; dropping the connection", fields);
        return;
      case "timeout":
        // Once per failure streak at warn, like other dial failures.
        if (this.failureLogged === "timeout") {
          log.debug("backhaul handshake timed out again", fields);
          return;
        }
        this.failureLogged = "timeout";
        log.warn("backhaul handshake timed out", fields);
        return;
      case "reconnect":
        log.info("backhaul reconnecting", fields);
        return;
    }
  }

  private cancelTimers(...names: TimerName[]): void {
    for (const name of names) {
      this.timers[name]?.();
      this.timers[name] = undefined;
    }
  }

  /** A cancellable timer on the injected clock; the callback's errors are logged, never thrown. */
  private after(ms: number, fn: () => void): Cancel {
    const abort = new AbortController();
    this.clock.sleep(Math.max(0, ms), abort.signal).then(
      () => {
        if (abort.signal.aborted) return;
        try {
          fn();
        } catch (err) {
          this.options.log.error("backhaul timer failed", { error: err });
        }
      },
      () => {},
    );
    return () => abort.abort();
  }
}
