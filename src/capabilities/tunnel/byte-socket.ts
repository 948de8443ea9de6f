// A Bun socket (Bun.connect / Bun.listen, without node:net's stream layer) as a relay needs it, for the agent's
// connections to its helper and the helper's two sides. Bun's raw write takes what the kernel accepts and returns
// the count; the rest is queued here, in order, and written on the socket's drain. The queue is bounded by the
// caller: `write` returns false once anything is queued, and the caller stops its source until `drained()`.
// The peer's end (EOF) and the close are reported once each; a close also ends every wait.
import type { Socket, SocketHandler } from "bun";

const noop = () => {};

export class ByteSocket {
  /** Each chunk the peer sent, in a buffer of its own (Bun never reuses it). */
  onData: (chunk: Uint8Array) => void = noop;
  /** The peer will send no more (EOF); with allowHalfOpen the socket stays writable. */
  onEnd: () => void = noop;
  /** Closed: by either side or an error. After it, writes are dropped. */
  onClose: () => void = noop;
  /** Connected (socket options go here). */
  onOpen: (socket: Socket<ByteSocket>) => void = noop;
  private socket: Socket<ByteSocket> | undefined;
  private readonly queue: Uint8Array[] = [];
  private waiters: (() => void)[] = [];
  private ending = false;
  private ended = false;
  private gone = false;

  /** Called by the handler once the socket is open. */
  attach(socket: Socket<ByteSocket>): void {
    this.socket = socket;
    if (this.gone) {
      socket.end();
      return;
    }
    this.onOpen(socket);
    this.flush();
  }

  get closed(): boolean {
    return this.gone;
  }

  /** Writes `bytes` (kept by reference while queued); false when some of it waits: stop the source until `drained()`. */
  write(bytes: Uint8Array): boolean {
    if (this.gone || this.ending) return true;
    if (this.queue.length === 0 && this.socket) {
      const n = this.socket.write(bytes);
      if (n >= bytes.length) return true;
      this.queue.push(n > 0 ? bytes.subarray(n) : bytes);
      return false;
    }
    this.queue.push(bytes);
    return false;
  }

  /** Resolves when nothing is queued (at once when nothing is), or when the socket has closed. */
  drained(): Promise<void> {
    if (this.queue.length === 0 || this.gone) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Half-close: FIN once everything queued is written; the socket still reads. */
  end(): void {
    if (this.gone || this.ending) return;
    this.ending = true;
    this.flush();
  }

  /** Closes now, dropping whatever is queued. Idempotent. */
  destroy(): void {
    if (this.gone) return;
    this.queue.length = 0;
    if (this.socket) this.socket.end();
    else this.closedNow();
  }

  pause(): void {
    this.socket?.pause();
  }

  resume(): void {
    this.socket?.resume();
  }

  /** Writes what is queued as far as the kernel takes it; called on drain. */
  flush(): void {
    const socket = this.socket;
    if (!socket || this.gone) return;
    while (this.queue.length > 0) {
      const head = this.queue[0]!;
      const n = socket.write(head);
      if (n < head.length) {
        if (n > 0) this.queue[0] = head.subarray(n);
        return;
      }
      this.queue.shift();
    }
    for (const wake of this.waiters.splice(0)) wake();
    if (this.ending && !this.ended) {
      this.ended = true;
      socket.shutdown();
    }
  }

  /** The handler's end and close. */
  peerEnded(): void {
    this.onEnd();
  }

  closedNow(): void {
    if (this.gone) return;
    this.gone = true;
    this.queue.length = 0;
    for (const wake of this.waiters.splice(0)) wake();
    this.onClose();
  }
}

/** The socket callbacks for a ByteSocket in `socket.data`. */
export const byteSocketHandler: SocketHandler<ByteSocket> = {
  open(socket) {
    socket.data.attach(socket);
  },
  data(socket, chunk) {
    socket.data.onData(chunk);
  },
  drain(socket) {
    socket.data.flush();
  },
  end(socket) {
    socket.data.peerEnded();
  },
  close(socket) {
    socket.data.closedNow();
  },
  error(socket) {
    socket.data.destroy();
  },
  connectError(socket) {
    socket.data.closedNow();
  },
};
