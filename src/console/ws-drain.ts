// Tells when a WebSocket client's send queue has drained, without polling. Bun's WebSocket client has
// bufferedAmount but no drain event, so the drain is observed through the protocol: a ping queued behind the
// output (the marker) leaves only after everything before it, and its pong is the event on which the queue is
// looked at again. No timer runs while the peer answers. Only a peer that never answers pings (RFC 6455 says it
// must) leaves the drain to a watchdog that looks once per interval while the marker is unanswered. Used by the
// terminal (its PTY stops while the socket is over its high water) and by the tunnel (a send waits).
import type { Clock } from "../platform/clock.ts";

/** How often an unanswered marker's queue is looked at. */
export const DRAIN_WATCHDOG_MS = 1_000;

export interface DrainOptions {
  /** The queue is drained once bufferedAmount is at or below this. */
  lowWaterBytes: number;
  clock: Clock;
  /** Called once per wait(), when the queue has drained. Never called after dispose(). */
  onDrained: () => void;
  watchdogMs?: number;
}

/** One per socket: listens for its pongs until dispose(). */
export class SendQueueDrain {
  private marker = 0;
  private markers = 0;
  private watchdog: AbortController | null = null;
  private disposed = false;
  private readonly onPong = (event: Event): void => this.pong((event as MessageEvent).data);

  constructor(
    private readonly ws: WebSocket,
    private readonly options: DrainOptions,
  ) {
    ws.addEventListener("pong", this.onPong);
  }

  /** A drain is awaited (a marker is in flight). */
  get waiting(): boolean {
    return this.marker !== 0;
  }

  /**
   * Call when the queue went over its high water: onDrained follows once it is at or below the low water. A wait
   * already in progress is not started again. On a socket that is closing, nothing follows: its close handler
   * takes over.
   */
  wait(): void {
    if (this.disposed || this.marker !== 0) return;
    this.markers = (this.markers % 0xffff_ffff) + 1;
    this.marker = this.markers;
    const payload = new Uint8Array(4);
    new DataView(payload.buffer).setUint32(0, this.marker);
    try {
      this.ws.ping(payload);
    } catch {
      this.marker = 0;
      return;
    }
    this.armWatchdog();
  }

  /** Stops listening; a wait in progress never ends. */
  dispose(): void {
    this.disposed = true;
    this.marker = 0;
    this.watchdog?.abort();
    this.watchdog = null;
    this.ws.removeEventListener("pong", this.onPong);
  }

  /** A pong: at or below the low water the wait ends; the marker's own pong above it sends the next marker. */
  private pong(data: unknown): void {
    if (this.marker === 0) return;
    if (this.ws.bufferedAmount > this.options.lowWaterBytes) {
      if (!this.isMarker(data)) return; // an earlier or unsolicited pong: ours is still behind the queue
      this.marker = 0;
      this.wait();
      return;
    }
    this.finish();
  }

  private finish(): void {
    this.marker = 0;
    this.watchdog?.abort();
    this.watchdog = null;
    this.options.onDrained();
  }

  private isMarker(data: unknown): boolean {
    const bytes =
      data instanceof ArrayBuffer
        ? new Uint8Array(data)
        : ArrayBuffer.isView(data)
          ? new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
          : undefined;
    return bytes?.length === 4 && new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0) === this.marker;
  }

  private armWatchdog(): void {
    this.watchdog?.abort();
    const watchdog = new AbortController();
    this.watchdog = watchdog;
    this.options.clock.sleep(this.options.watchdogMs ?? DRAIN_WATCHDOG_MS, watchdog.signal).then(
      () => {
        // A socket that closed meanwhile: its close handler took over.
        if (this.watchdog !== watchdog || this.marker === 0 || this.ws.readyState !== WebSocket.OPEN) return;
        if (this.ws.bufferedAmount > this.options.lowWaterBytes) this.armWatchdog();
        else this.finish();
      },
      () => {},
    );
  }
}
