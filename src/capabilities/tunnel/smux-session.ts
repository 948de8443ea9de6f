// The agent's end of an smux v1 session (spec/upstream-2026.md §8.3, limits §8.4): accepts the streams the
// tunnel server opens, delivers their data under one session-wide receive budget and stops reading the
// transport when it is spent, splits writes into PSH frames, keeps the link alive with NOP and closes it when
// the peer falls silent. Never opens a stream, never buffers peer data without bound, never rejects a stream
// for being over a limit (it waits in the backlog), and never throws into the transport's callbacks.
import type { Logger } from "../../log/logger.ts";
import type { Clock } from "../../platform/clock.ts";
import { Cmd, encodeFrame, encodeFrameInto, FrameDecoder, framePayloadInPlace, HEADER_SIZE, MAX_SEND_PAYLOAD } from "./smux-frame.ts";
import { type StreamSlots, usageWarning } from "./stream-slots.ts";

/** The byte pipe under a session (later a WebSocket: one frame per binary message). */
export interface SmuxTransport {
  /** Sends one whole frame. A returned promise holds back the next frame until it settles; a rejection closes the session. */
  send(frame: Uint8Array): void | Promise<void>;
  /** True when send() has copied or written the frame by the time it returns: the session then reuses one buffer. */
  readonly copiesFrames?: boolean;
  /** Stop delivering input (stop reading the socket) until `resume`. */
  pause(): void;
  resume(): void;
  close(): void;
}

export interface SmuxSettings {
  keepAliveIntervalMs: number;
  /** The session closes when no frame arrived during a whole period of this length. */
  keepAliveTimeoutMs: number;
  /** Received but unread bytes across all streams before the transport is paused. */
  receiveBufferBytes: number;
  /** Accepted, still open streams per session; beyond it new streams wait in the backlog. */
  maxStreams: number;
  /** Opened but not yet accepted streams; when full, input stops until one is accepted. */
  acceptBacklog: number;
  /** Undecoded input held while paused; a peer that sends past it ignores backpressure and is cut off. */
  maxHeldInputBytes: number;
}

const DEFAULTS: SmuxSettings = {
  keepAliveIntervalMs: 10_000,
  keepAliveTimeoutMs: 30_000,
  receiveBufferBytes: 4 * 1024 * 1024,
  maxStreams: 64,
  acceptBacklog: 1024,
  maxHeldInputBytes: 1024 * 1024,
};

/** A stream opened by the peer. `read` resolves null at the end (peer FIN with nothing left, or a closed stream or session). */
export interface SmuxStream {
  readonly id: number;
  read(): Promise<Uint8Array | null>;
  /** Sends `data` in PSH frames of at most 32 KiB; resolves when the last one was handed to the transport. */
  write(data: Uint8Array): Promise<void>;
  /**
   * Like write, for a buffer the caller hands over and never reads or reuses again (a socket read): when the
   * transport copies what it sends, each part's frame header goes into the last 8 bytes of the part before it
   * (already sent by then), so only the first part is copied.
   */
  writeOwned(data: Uint8Array): Promise<void>;
  /** Full close: sends FIN once, drops unread data. Never rejects. */
  close(): Promise<void>;
}

export interface SmuxSessionDeps {
  transport: SmuxTransport;
  clock: Clock;
  log: Logger;
  slots: StreamSlots;
  settings?: Partial<SmuxSettings>;
}

const noop = () => {};
const SENT: Promise<void> = Promise.resolve();

export class SmuxSession {
  /** Resolves with the reason once the session has closed. */
  readonly closed: Promise<string>;
  private readonly transport: SmuxTransport;
  private readonly clock: Clock;
  private readonly log: Logger;
  private readonly slots: StreamSlots;
  private readonly settings: SmuxSettings;
  private readonly decoder: FrameDecoder;
  private readonly sendBuffer: Uint8Array | undefined;
  private readonly streams = new Map<number, Stream>();
  private readonly backlog: Stream[] = [];
  private readonly acceptors: ((stream: SmuxStream | null) => void)[] = [];
  private readonly warnStreams: (used: number) => void;
  private readonly stopTimers = new AbortController();
  private readonly unsubscribe: () => void;
  private resolveClosed: (reason: string) => void = noop;
  private closeReason: string | undefined;
  private budget: number;
  private active = 0;
  private paused = false;
  private pumping = false;
  private frameSeen = false;
  private sendTail: Promise<void> = SENT;
  /** Frames queued or in flight whose send has not settled yet. */
  private sendsWaiting = 0;

  constructor(deps: SmuxSessionDeps) {
    this.transport = deps.transport;
    this.clock = deps.clock;
    this.log = deps.log;
    this.slots = deps.slots;
    this.settings = { ...DEFAULTS, ...deps.settings };
    this.budget = this.settings.receiveBufferBytes;
    // Every transport slice is a buffer of its own (one per WebSocket message): payloads may borrow it.
    if (this.transport.copiesFrames) this.sendBuffer = new Uint8Array(HEADER_SIZE + MAX_SEND_PAYLOAD);
    this.decoder = new FrameDecoder(this.settings.maxHeldInputBytes, { borrow: true });
    this.closed = new Promise((resolve) => {
      this.resolveClosed = resolve;
    });
    const limit = this.settings.maxStreams;
    this.warnStreams = usageWarning(limit, (n) => this.log.warn("tunnel streams at 75% of the session limit", { streams: n, limit }));
    this.unsubscribe = this.slots.onRelease(() => this.offerStreams());
    void this.keepAlive();
  }

  /** Input from the transport: any slice of the peer's byte stream. */
  receive(bytes: Uint8Array): void {
    let rest = bytes;
    while (this.closeReason === undefined && rest.length > 0) {
      // Fed in pieces that fit the decoder's bound, so a large message decodes while reading flows.
      const room = this.settings.maxHeldInputBytes - this.decoder.buffered;
      if (room <= 0) {
        this.fail(`peer sent more than ${this.settings.maxHeldInputBytes} bytes while asked to pause`);
        return;
      }
      this.decoder.push(rest.subarray(0, room));
      rest = rest.subarray(room);
      this.pump();
    }
  }

  /** The next stream the peer opened, once a slot is free; null when the session has closed. */
  accept(): Promise<SmuxStream | null> {
    if (this.closeReason !== undefined) return Promise.resolve(null);
    return new Promise((resolve) => {
      this.acceptors.push(resolve);
      this.offerStreams();
    });
  }

  /** Ends the session and every stream in it, and closes the transport. Idempotent. */
  close(reason = "closed"): void {
    if (this.closeReason !== undefined) return;
    this.closeReason = reason;
    this.stopTimers.abort();
    this.unsubscribe();
    const streams = [...this.streams.values()];
    this.streams.clear();
    this.backlog.length = 0;
    for (const stream of streams) {
      stream.sessionClosed();
      if (stream.accepted) this.slots.release();
    }
    this.active = 0;
    for (const acceptor of this.acceptors.splice(0)) acceptor(null);
    try {
      this.transport.close();
    } catch (error) {
      this.log.debug("closing the smux transport failed", { error: describe(error) });
    }
    this.resolveClosed(reason);
  }

  get isClosed(): boolean {
    return this.closeReason !== undefined;
  }

  /**
   * Queues one frame behind every earlier one; `make` runs only when its turn comes: at once when nothing is
   * waiting (no promise per frame while the transport keeps up), else after the frame before it has settled.
   */
  send(make: () => Uint8Array): Promise<void> {
    if (this.sendsWaiting === 0) {
      let result: void | Promise<void>;
      try {
        if (this.closeReason !== undefined) throw new Error(`smux session closed: ${this.closeReason}`);
        result = this.transport.send(make());
      } catch (error) {
        this.fail(`sending failed: ${describe(error)}`);
        const failed = Promise.reject(error);
        failed.catch(noop);
        return failed;
      }
      if (result === undefined) return SENT;
      return this.track(result);
    }
    return this.track(
      this.sendTail.then(() => {
        if (this.closeReason !== undefined) throw new Error(`smux session closed: ${this.closeReason}`);
        return this.transport.send(make());
      }),
    );
  }

  /** Holds back later frames until `sent` settles; its failure closes the session. */
  private track(sent: Promise<void>): Promise<void> {
    this.sendsWaiting++;
    this.sendTail = sent.then(
      () => {
        this.sendsWaiting--;
      },
      (error) => {
        this.sendsWaiting--;
        this.fail(`sending failed: ${describe(error)}`);
      },
    );
    return sent;
  }

  /** For streams: a PSH frame, in the session's one send buffer when the transport copies what it sends. */
  encodeData(streamId: number, payload: Uint8Array): Uint8Array {
    if (!this.sendBuffer) return encodeFrame(Cmd.PSH, streamId, payload);
    return encodeFrameInto(this.sendBuffer, Cmd.PSH, streamId, payload);
  }

  /** For streams: whether frames may be built in buffers that change right after they were sent. */
  get transportCopies(): boolean {
    return this.sendBuffer !== undefined;
  }

  /** For streams: unread bytes taken by the consumer (or dropped) go back to the receive budget. */
  returnTokens(count: number): void {
    this.budget += count;
    if (this.paused && this.budget > 0) this.pump();
  }

  /** For streams: a local close frees the id and, once accepted, its slots. */
  streamClosed(stream: Stream): void {
    if (this.streams.get(stream.id) === stream) this.streams.delete(stream.id);
    if (!stream.accepted || this.closeReason !== undefined) return;
    this.active--;
    this.warnStreams(this.active);
    this.slots.release();
  }

  private fail(reason: string): void {
    if (this.closeReason !== undefined) return;
    this.log.warn("smux session closed", { reason });
    this.close(reason);
  }

  /** Decodes and handles frames until input runs out or a budget (receive buffer, backlog) stops it. */
  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.closeReason === undefined) {
        if (this.budget <= 0 || this.backlog.length >= this.settings.acceptBacklog) {
          this.setPaused(true);
          return;
        }
        const decoded = this.decoder.next();
        if (decoded.kind === "need-more") {
          this.setPaused(false);
          return;
        }
        if (decoded.kind === "error") {
          this.fail(`protocol error: ${decoded.reason}`);
          return;
        }
        this.frameSeen = true;
        const { cmd, streamId, payload } = decoded.frame;
        if (cmd === Cmd.SYN) {
          if (this.streams.has(streamId)) continue;
          const stream = new Stream(streamId, this);
          this.streams.set(streamId, stream);
          this.backlog.push(stream);
          this.offerStreams();
        } else if (cmd === Cmd.FIN) {
          this.streams.get(streamId)?.finReceived();
        } else if (cmd === Cmd.PSH) {
          const stream = this.streams.get(streamId);
          if (stream && payload.length > 0 && stream.deliver(payload)) this.budget -= payload.length;
        }
      }
    } finally {
      this.pumping = false;
    }
  }

  private setPaused(paused: boolean): void {
    if (this.paused === paused) return;
    this.paused = paused;
    try {
      if (paused) this.transport.pause();
      else this.transport.resume();
    } catch (error) {
      this.fail(`transport ${paused ? "pause" : "resume"} failed: ${describe(error)}`);
    }
  }

  /** Hands waiting streams to waiting acceptors while both limits allow. */
  private offerStreams(): void {
    let handed = false;
    while (
      this.closeReason === undefined &&
      this.acceptors.length > 0 &&
      this.backlog.length > 0 &&
      this.active < this.settings.maxStreams
    ) {
      if (!this.slots.tryAcquire()) break;
      const stream = this.backlog.shift()!;
      stream.accepted = true;
      this.active++;
      this.warnStreams(this.active);
      this.acceptors.shift()!(stream);
      handed = true;
    }
    if (handed && this.paused) this.pump();
  }

  private async keepAlive(): Promise<void> {
    const { keepAliveIntervalMs: interval, keepAliveTimeoutMs: timeout } = this.settings;
    const start = this.clock.monotonic();
    let nextNop = interval;
    let nextCheck = timeout;
    try {
      for (;;) {
        await this.clock.sleep(Math.max(0, Math.min(nextNop, nextCheck) - (this.clock.monotonic() - start)), this.stopTimers.signal);
        if (this.closeReason !== undefined) return;
        const now = this.clock.monotonic() - start;
        if (now >= nextNop) {
          while (nextNop <= now) nextNop += interval;
          void this.send(() => encodeFrame(Cmd.NOP, 0));
        }
        if (now >= nextCheck) {
          while (nextCheck <= now) nextCheck += timeout;
          // While paused we read nothing on purpose; silence is then ours, not the peer's.
          if (!this.frameSeen && !this.paused) {
            this.fail(`no frame from the peer in ${timeout} ms`);
            return;
          }
          this.frameSeen = false;
        }
      }
    } catch {
      // Aborted by close().
    }
  }
}

class Stream implements SmuxStream {
  accepted = false;
  private readonly chunks: Uint8Array[] = [];
  private readonly readers: ((chunk: Uint8Array | null) => void)[] = [];
  private remoteFin = false;
  private localClosed = false;
  private sessionGone = false;
  private finSent: Promise<void> | undefined;

  constructor(
    readonly id: number,
    private readonly session: SmuxSession,
  ) {}

  read(): Promise<Uint8Array | null> {
    const chunk = this.chunks.shift();
    if (chunk) {
      this.session.returnTokens(chunk.length);
      return Promise.resolve(chunk);
    }
    if (this.remoteFin || this.localClosed || this.sessionGone) return Promise.resolve(null);
    return new Promise((resolve) => this.readers.push(resolve));
  }

  async write(data: Uint8Array): Promise<void> {
    if (this.localClosed || this.sessionGone) throw new Error(`smux stream ${this.id} is closed`);
    let last: Promise<void> = Promise.resolve();
    for (let at = 0; at < data.length; at += MAX_SEND_PAYLOAD) {
      const part = data.subarray(at, at + MAX_SEND_PAYLOAD);
      last = this.session.send(() => this.session.encodeData(this.id, part));
    }
    await last;
  }

  async writeOwned(data: Uint8Array): Promise<void> {
    if (!this.session.transportCopies) return this.write(data);
    if (this.localClosed || this.sessionGone) throw new Error(`smux stream ${this.id} is closed`);
    let last: Promise<void> = Promise.resolve();
    for (let at = 0; at < data.length; at += MAX_SEND_PAYLOAD) {
      const part = at;
      const length = Math.min(MAX_SEND_PAYLOAD, data.length - at);
      // Frames go out in order, each copied by the transport before the next is made: the first part's frame
      // is built in the session's buffer, every later one over the tail of the part before it.
      last =
        part === 0
          ? this.session.send(() => this.session.encodeData(this.id, data.subarray(0, length)))
          : this.session.send(() => framePayloadInPlace(data, part, length, this.id));
    }
    await last;
  }

  close(): Promise<void> {
    if (this.finSent) return this.finSent;
    this.localClosed = true;
    this.session.streamClosed(this);
    this.release();
    this.finSent = this.sessionGone ? Promise.resolve() : this.session.send(() => encodeFrame(Cmd.FIN, this.id)).catch(noop);
    return this.finSent;
  }

  /** Takes a payload from the peer; true when it was buffered (and so counts against the receive budget). */
  deliver(payload: Uint8Array): boolean {
    if (this.remoteFin || this.localClosed || this.sessionGone) return false;
    const reader = this.readers.shift();
    if (reader) {
      reader(payload);
      return false;
    }
    this.chunks.push(payload);
    return true;
  }

  finReceived(): void {
    this.remoteFin = true;
    if (this.chunks.length === 0) for (const reader of this.readers.splice(0)) reader(null);
  }

  sessionClosed(): void {
    this.sessionGone = true;
    this.chunks.length = 0;
    for (const reader of this.readers.splice(0)) reader(null);
  }

  /** Drops unread data, gives its budget back and ends pending reads. */
  private release(): void {
    let unread = 0;
    for (const chunk of this.chunks.splice(0)) unread += chunk.length;
    for (const reader of this.readers.splice(0)) reader(null);
    if (unread > 0 && !this.sessionGone) this.session.returnTokens(unread);
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
