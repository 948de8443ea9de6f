// One websh terminal: the PTY socket to the console and the shell on its PTY. Bytes flow both ways unchanged
// (text frames of whole UTF-8 characters for the 2024 console), a slow socket stops the terminal's output
// instead of growing memory, a dropped socket is re-dialled through pty-channels while the shell lives on.
// Never sends the server's credentials off the console's origin; never leaves a process of the session behind.
import { readFileSync } from "node:fs";
import * as v from "valibot";
import { type ConsoleHttp, dialWebSocket } from "../../console/http.ts";
import { type PtyOptions, type PtyProcess, startPty } from "../../exec/pty.ts";
import type { Logger } from "../../log/logger.ts";
import type { Clock } from "../../platform/clock.ts";
import { SendQueueDrain } from "../../console/ws-drain.ts";
import { resolvePtyUrl } from "./data.ts";

export const PTY_CHANNELS_PATH = "/api/websh/pty-channels/";
/** Close codes after which the console is done with the session (4000 = "session closed"). */
const FINAL_CLOSE_CODES = new Set([1000, 1001, 4000]);
const ChannelAnswer = v.object({ websocket_url: v.pipe(v.string(), v.nonEmpty()) });

export interface SessionSettings {
  /** A PTY socket handshake that has not completed after this long fails. Default 15 s. */
  connectTimeoutMs: number;
  /** How long a dropped socket is re-dialled before the session ends. Default 60 s. */
  recoverForMs: number;
  /** Reconnect delays: initial, growth factor, cap. Default 1 s, ×1.5, 30 s. */
  backoff: { initialMs: number; factor: number; capMs: number };
  /** After SIGHUP, how long the session's processes get before SIGKILL. Default 3 s. */
  killGraceMs: number;
  /** Socket bytes queued above which the terminal's output is stopped, and below which it restarts. */
  highWaterBytes: number;
  lowWaterBytes: number;
}

export const DEFAULT_SESSION_SETTINGS: SessionSettings = {
  connectTimeoutMs: 15_000,
  recoverForMs: 60_000,
  backoff: { initialMs: 1_000, factor: 1.5, capMs: 30_000 },
  killGraceMs: 3_000,
  highWaterBytes: 2 << 20,
  lowWaterBytes: 512 << 10,
};

export interface SessionDeps {
  http: ConsoleHttp;
  log: Logger;
  clock: Clock;
  settings: SessionSettings;
}

type Dial = { ok: true; ws: WebSocket } | { ok: false; error: string };
/** Output kept while the socket is down (the terminal is stopped meanwhile, so only a little arrives). */
const MAX_PENDING_BYTES = 4 << 20;

export class TerminalSession {
  private ws: WebSocket | null = null;
  private pty: PtyProcess | null = null;
  private readonly queuedInput: (string | ArrayBuffer)[] = [];
  private readonly pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private decoder: TextDecoder | null = null;
  private flowStopped = false;
  /** Tells when the current socket's send queue has drained; see throttle(). */
  private drain: SendQueueDrain | null = null;
  private recovering = false;
  private ending = false;
  private readonly stop = new AbortController();
  private resolveEnded!: () => void;
  /** Resolves once the session is over: socket closed, every process of it gone and reaped. */
  readonly ended = new Promise<void>((resolve) => (this.resolveEnded = resolve));

  constructor(
    readonly id: string,
    private readonly deps: SessionDeps,
    private readonly onEnded: (session: TerminalSession) => void,
  ) {}

  /** Dials the socket, then starts the shell. Undefined on success, else the real reason it failed. */
  async open(url: string, legacy: boolean, pty: Omit<PtyOptions, "onData" | "onEof">): Promise<string | undefined> {
    if (legacy) this.decoder = new TextDecoder("utf-8", { fatal: false });
    const dialled = await this.dial(url);
    if (!dialled.ok) return `cannot connect to the terminal channel: ${dialled.error}`;
    this.attach(dialled.ws);
    let sawEof!: () => void;
    const eof = new Promise<void>((resolve) => (sawEof = resolve));
    const started = await startPty({ ...pty, onData: (bytes) => this.output(bytes), onEof: () => sawEof() });
    if (!started.ok) {
      this.ending = true;
      this.closeSocket(dialled.ws, 1011, "the shell could not start");
      return started.error;
    }
    this.pty = started.pty;
    for (const input of this.queuedInput.splice(0)) this.input(input);
    // The last output can trail the exit; background jobs holding the terminal must not keep the session.
    void started.pty.exited.then(async () => {
      await Promise.race([eof, this.deps.clock.sleep(300).catch(() => {})]);
      await this.end("the shell exited");
    });
    return undefined;
  }

  /**
   * Asks what is on the screen to redraw (the console sends it after its socket reconnects): SIGWINCH to the
   * terminal's foreground process group, so a full-screen program in a job of its own (vim, less, top) gets it
   * too, not only the shell. The group is the kernel's own record (tpgid in /proc/<shell>/stat, what
   * TIOCGPGRP on the master returns); the shell's group when that cannot be read.
   */
  refresh(): void {
    if (!this.pty || this.ending) throw new Error(`no running process for session ${this.id}`);
    process.kill(-(foregroundGroup(this.pty.pid) ?? this.pty.pid), "SIGWINCH");
  }

  resize(cols: number, rows: number): void {
    if (!this.pty || this.ending) throw new Error(this.ending ? "the terminal is closing" : "the terminal is not open yet");
    this.pty.resize(cols, rows);
  }

  /** Closes the socket (1000) and ends every process of the session. Safe to call more than once. */
  async end(reason: string): Promise<void> {
    if (this.ending) return this.ended;
    this.ending = true;
    this.stop.abort();
    this.drain?.dispose();
    this.deps.log.info("terminal session ended", { session: this.id, reason });
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      this.flushDecoder(ws);
      this.closeSocket(ws, 1000, "");
    }
    await this.pty?.kill(this.deps.settings.killGraceMs);
    this.onEnded(this);
    this.resolveEnded();
    return this.ended;
  }

  private dial(url: string): Promise<Dial> {
    const { http, clock, settings } = this.deps;
    let ws: WebSocket;
    try {
      ws = dialWebSocket(http, url, { binaryType: "arraybuffer" });
    } catch (err) {
      return Promise.resolve({ ok: false, error: (err as Error).message });
    }
    return new Promise<Dial>((resolve) => {
      const timer = new AbortController();
      let lastError: string | undefined;
      const settle = (result: Dial) => {
        timer.abort();
        ws.removeEventListener("open", onOpen);
        ws.removeEventListener("close", onClose);
        ws.removeEventListener("error", onError);
        resolve(result);
      };
      const onOpen = () => settle({ ok: true, ws });
      const onError = (ev: Event) => (lastError = (ev as ErrorEvent).message?.replace(/^WebSocket connection to '[^']*' failed: /, ""));
      const onClose = (ev: CloseEvent) => settle({ ok: false, error: lastError ?? `closed with code ${ev.code}` });
      ws.addEventListener("open", onOpen);
      ws.addEventListener("error", onError);
      ws.addEventListener("close", onClose);
      clock.sleep(settings.connectTimeoutMs, AbortSignal.any([timer.signal, this.stop.signal])).then(
        () => {
          ws.terminate();
          settle({ ok: false, error: `no handshake within ${settings.connectTimeoutMs} ms` });
        },
        () => {
          if (this.stop.signal.aborted && ws.readyState !== WebSocket.OPEN) {
            ws.terminate();
            settle({ ok: false, error: "the session is closing" });
          }
        },
      );
    });
  }

  private attach(ws: WebSocket): void {
    this.ws = ws;
    this.drain?.dispose();
    this.drain = new SendQueueDrain(ws, {
      lowWaterBytes: this.deps.settings.lowWaterBytes,
      clock: this.deps.clock,
      onDrained: () => {
        if (this.ws === ws && !this.recovering) this.startFlow();
      },
    });
    ws.addEventListener("message", (ev) => {
      if (this.ws === ws) this.input(ev.data as string | ArrayBuffer);
    });
    ws.addEventListener("close", (ev) => {
      if (this.ws !== ws || this.ending) return;
      this.ws = null;
      if (FINAL_CLOSE_CODES.has(ev.code)) void this.end(`the console closed the terminal (${ev.code})`);
      else void this.recover(ev.code);
    });
  }

  /** Console → shell: frames of either type are written to the PTY as bytes. */
  private input(data: string | ArrayBuffer): void {
    if (!this.pty) {
      this.queuedInput.push(data);
      return;
    }
    this.pty.write(typeof data === "string" ? data : new Uint8Array(data));
  }

  /** Shell → console. */
  private output(bytes: Uint8Array): void {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) {
      if (this.ending) return;
      this.holdOutput(bytes);
      return;
    }
    // One frame per callback: Bun's terminal already reads until the PTY is empty (up to 256 KiB) before calling,
    // so a burst arrives in large chunks and a keystroke's echo alone, at once.
    this.send(ws, bytes);
    if (ws.bufferedAmount > this.deps.settings.highWaterBytes) this.throttle(ws);
  }

  private send(ws: WebSocket, bytes: Uint8Array): void {
    try {
      if (!this.decoder) ws.send(bytes);
      else {
        // stream: a multi-byte character cut by a PTY read waits for its remaining bytes.
        const text = this.decoder.decode(bytes, { stream: true });
        if (text) ws.send(text);
      }
    } catch (err) {
      this.deps.log.debug("terminal output not sent", { session: this.id, error: err });
    }
  }

  private holdOutput(bytes: Uint8Array): void {
    this.stopFlow();
    if (this.pendingBytes + bytes.length > MAX_PENDING_BYTES) {
      this.deps.log.warn("terminal output dropped while reconnecting", { session: this.id, bytes: bytes.length });
      return;
    }
    this.pending.push(bytes);
    this.pendingBytes += bytes.length;
  }

  private stopFlow(): void {
    // Called on every chunk that still arrives: a no-op while the tty is stopped by tcflow, a fresh XOFF in the
    // fallback, where a keystroke restarts the tty (IXANY).
    this.pty?.pause();
    this.flowStopped = true;
  }

  private startFlow(): void {
    if (!this.flowStopped) return;
    this.flowStopped = false;
    this.pty?.resume();
  }

  /**
   * Stops the terminal until the socket has sent what is queued (down to the low water): no timer runs while the
   * peer answers pings (console/ws-drain.ts).
   */
  private throttle(ws: WebSocket): void {
    this.stopFlow();
    if (this.ws === ws) this.drain?.wait();
  }

  /** Re-dials through POST pty-channels with backoff, for at most recoverForMs; the shell stays up. */
  private async recover(code: number): Promise<void> {
    if (this.recovering || this.ending) return;
    this.recovering = true;
    this.stopFlow();
    const { clock, log, settings } = this.deps;
    log.warn("terminal socket dropped; reconnecting", { session: this.id, code });
    const deadline = clock.monotonic() + settings.recoverForMs;
    let delay = settings.backoff.initialMs;
    let lastError = "";
    while (!this.ending && clock.monotonic() < deadline) {
      const url = await this.channelUrl().catch((err: Error) => ({ error: err.message }));
      if ("url" in url) {
        const dialled = await this.dial(url.url);
        if (dialled.ok && !this.ending) {
          this.attach(dialled.ws);
          this.recovering = false;
          this.flushPending(dialled.ws);
          log.info("terminal socket reconnected", { session: this.id });
          return;
        }
        if (dialled.ok) dialled.ws.terminate();
        else lastError = dialled.error;
      } else lastError = url.error;
      const wait = Math.min(delay, Math.max(0, deadline - clock.monotonic()));
      delay = Math.min(delay * settings.backoff.factor, settings.backoff.capMs);
      try {
        await clock.sleep(wait, this.stop.signal);
      } catch {
        return;
      }
    }
    this.recovering = false;
    void this.end(`reconnecting failed for ${Math.round(settings.recoverForMs / 1000)} s: ${lastError}`);
  }

  private async channelUrl(): Promise<{ url: string } | { error: string }> {
    const { http } = this.deps;
    const reply = await http.request("POST", PTY_CHANNELS_PATH, { body: { session: this.id }, timeoutMs: 5_000, signal: this.stop.signal });
    if (reply.status !== 201)
      return { error: reply.status === 0 ? (reply.error ?? "no response") : `pty-channels answered ${reply.status}` };
    let json: unknown;
    try {
      json = JSON.parse(reply.text);
    } catch {
      return { error: "pty-channels answer is not JSON" };
    }
    const parsed = v.safeParse(ChannelAnswer, json);
    if (!parsed.success) return { error: "pty-channels answer has no websocket_url" };
    const resolved = resolvePtyUrl(parsed.output.websocket_url, http.serverUrl, (u) => http.isConsoleOrigin(u));
    return resolved.ok ? { url: resolved.url } : { error: resolved.error };
  }

  private flushPending(ws: WebSocket): void {
    for (const bytes of this.pending.splice(0)) this.send(ws, bytes);
    this.pendingBytes = 0;
    if (ws.bufferedAmount > this.deps.settings.highWaterBytes) this.throttle(ws);
    else this.startFlow();
  }

  private flushDecoder(ws: WebSocket): void {
    if (!this.decoder || ws.readyState !== WebSocket.OPEN) return;
    const tail = this.decoder.decode();
    if (tail) ws.send(tail);
  }

  /** A close frame, and the socket cut if the console does not answer it within 5 s. */
  private closeSocket(ws: WebSocket, code: number, reason: string): void {
    if (ws.readyState === WebSocket.CLOSED) return;
    if (ws.readyState !== WebSocket.OPEN) {
      ws.terminate();
      return;
    }
    try {
      ws.close(code, reason);
    } catch {
      ws.terminate();
      return;
    }
    const answered = new AbortController();
    ws.addEventListener("close", () => answered.abort(), { once: true });
    this.deps.clock.sleep(5_000, answered.signal).then(
      () => ws.readyState !== WebSocket.CLOSED && ws.terminate(),
      () => {},
    );
  }
}

/** The foreground process group of the terminal controlling `pid` (field tpgid of /proc/<pid>/stat). */
function foregroundGroup(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // After "pid (comm) ": state ppid pgrp session tty_nr tpgid; comm may hold spaces and parentheses.
    const tpgid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[5]);
    return Number.isInteger(tpgid) && tpgid > 0 ? tpgid : undefined;
  } catch {
    return undefined;
  }
}
