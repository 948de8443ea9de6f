// Cuts a command's merged output into chunks as upstream does (upstream-2026.md §2.3): a 4096-byte chunk as
// soon as that much is buffered, cut back to a UTF-8 boundary; whatever is buffered every 100 ms; the rest at
// the end. Bytes are decoded as they arrive (invalid ones become U+FFFD, an incomplete sequence at the end of
// a read waits for the next), so every chunk is valid UTF-8 of at most 4096 bytes. It also keeps the fin's
// audit copy: the first and last 512 KiB of what was streamed.
import type { ChunkSink } from "../../commands/chunks.ts";

export const CHUNK_BYTES = 4096;
export const FLUSH_EVERY_MS = 100;
export const AUDIT_HALF_BYTES = 512 * 1024;

export class OutputStream {
  private readonly decoder = new TextDecoder("utf-8", { fatal: false });
  private carry: Buffer = Buffer.alloc(0);
  /** A send waiting for room in the outbox; everything after it waits too, so the order is kept. */
  private busy: Promise<void> | undefined;
  private readonly timer: ReturnType<typeof setInterval>;
  readonly audit = new AuditCopy(AUDIT_HALF_BYTES);

  constructor(private readonly sink: ChunkSink) {
    this.timer = setInterval(() => {
      if (!this.busy && this.carry.length > 0) this.chain(this.flushCarry());
    }, FLUSH_EVERY_MS);
    this.timer.unref?.();
  }

  /** Raw output bytes; a promise while the outbox has no room (the caller stops reading meanwhile). */
  write(bytes: Uint8Array): undefined | Promise<void> {
    const busy = this.busy;
    if (busy) return busy.then(() => this.write(bytes));
    return this.chain(this.take(Buffer.from(this.decoder.decode(bytes, { stream: true }))));
  }

  /** Text the agent adds itself (a start failure), streamed like output. */
  writeText(text: string): undefined | Promise<void> {
    return this.write(Buffer.from(text));
  }

  /** The final flush: the decoder's incomplete tail (as U+FFFD) and whatever is buffered. */
  async end(): Promise<void> {
    clearInterval(this.timer);
    await this.busy;
    const tail = this.decoder.decode();
    await this.take(Buffer.from(tail));
    await this.flushCarry();
  }

  accepted(): boolean {
    return this.sink.accepted();
  }

  private chain(wait: undefined | Promise<void>): undefined | Promise<void> {
    if (!wait) return undefined;
    const done = wait.finally(() => {
      if (this.busy === done) this.busy = undefined;
    });
    this.busy = done;
    return done;
  }

  /** Appends valid UTF-8 and sends every full chunk. */
  private take(bytes: Buffer): undefined | Promise<void> {
    if (bytes.length === 0) return undefined;
    const data = this.carry.length > 0 ? Buffer.concat([this.carry, bytes]) : bytes;
    let offset = 0;
    while (data.length - offset >= CHUNK_BYTES) {
      let end = offset + CHUNK_BYTES;
      // Never split a sequence: back up to its first byte (valid UTF-8: at most 3 continuation bytes).
      while (end > offset && (data[end]! & 0xc0) === 0x80) end--;
      const piece = data.subarray(offset, end);
      offset = end;
      const wait = this.emit(piece);
      if (wait) {
        const rest = Buffer.from(data.subarray(offset));
        this.carry = Buffer.alloc(0);
        return wait.then(() => this.take(rest));
      }
    }
    this.carry = offset === 0 ? data : Buffer.from(data.subarray(offset));
    return undefined;
  }

  private flushCarry(): undefined | Promise<void> {
    if (this.carry.length === 0) return undefined;
    const piece = this.carry;
    this.carry = Buffer.alloc(0);
    return this.emit(piece);
  }

  private emit(piece: Buffer): undefined | Promise<void> {
    this.audit.add(piece);
    return this.sink.send(piece.toString("utf8"));
  }
}

/** The first and last `half` bytes of valid UTF-8 text, and how many in between were not kept. */
export class AuditCopy {
  private readonly head: Buffer[] = [];
  private headBytes = 0;
  private tail: Buffer[] = [];
  private tailBytes = 0;
  private total = 0;

  constructor(private readonly half: number) {}

  add(piece: Buffer): void {
    this.total += piece.length;
    let rest = piece;
    if (this.headBytes < this.half) {
      const take = rest.subarray(0, this.half - this.headBytes);
      this.head.push(Buffer.from(take));
      this.headBytes += take.length;
      rest = rest.subarray(take.length);
    }
    if (rest.length === 0) return;
    this.tail.push(Buffer.from(rest));
    this.tailBytes += rest.length;
    while (this.tail.length > 1 && this.tailBytes - this.tail[0]!.length >= this.half) this.tailBytes -= this.tail.shift()!.length;
  }

  /** The text; over 2 × half, the middle is replaced by `\n... [<N> bytes truncated] ...\n`. */
  text(): string {
    const head = Buffer.concat(this.head);
    let tail = Buffer.concat(this.tail);
    if (this.total <= 2 * this.half) return Buffer.concat([head, tail]).toString("utf8");
    tail = tail.subarray(tail.length - this.half);
    // Both ends on a character boundary: the head ends before a split sequence, the tail starts after one.
    let headEnd = head.length;
    if (headEnd < this.total) {
      let start = headEnd;
      while (start > 0 && (head[start - 1]! & 0xc0) === 0x80) start--;
      // head[start-1] begins the last sequence: keep it only when it is complete.
      const lead = start > 0 ? head[start - 1]! : 0;
      const need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
      if (start > 0 && headEnd - (start - 1) < need) headEnd = start - 1;
    }
    let tailStart = 0;
    while (tailStart < tail.length && (tail[tailStart]! & 0xc0) === 0x80) tailStart++;
    const keptHead = head.subarray(0, headEnd);
    const keptTail = tail.subarray(tailStart);
    const truncated = this.total - keptHead.length - keptTail.length;
    return `${keptHead.toString("utf8")}\n... [${truncated} bytes truncated] ...\n${keptTail.toString("utf8")}`;
  }
}
