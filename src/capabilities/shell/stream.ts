// Cuts a command's merged output into chunks as upstream does (upstream-2026.md §2.3): a 4096-byte chunk as
// soon as that much is buffered, cut back to a UTF-8 boundary; whatever is buffered every 100 ms; the rest at
// the end. Bytes are checked as they arrive (invalid ones become U+FFFD, an incomplete sequence at the end of
// a read waits for the next), so every chunk is valid UTF-8 of at most 4096 bytes. Valid output (the usual
// case) is cut from the bytes as read, never decoded to a string and encoded back: at thousands of chunks a
// second every copy is garbage the agent's RSS has to hold (BENCHMARKS.md, streamed output). It also keeps
// the fin's audit copy: the first and last 512 KiB of what was streamed.
// One OutputStream serves a whole command line: all segments of an operator-split line (`a && b; c`) share
// one seq series and so one audit copy, the first and last 512 KiB of the whole line. That is our choice:
// upstream (§2.3) keeps 512 KiB at each end of every segment and caps their concatenation to 1 MiB again;
// ours has the same bound, and the fin's copy is cut from exactly the bytes the chunks carried.
import { isUtf8 } from "node:buffer";
import type { ChunkSink } from "../../commands/chunks.ts";

export const CHUNK_BYTES = 4096;
export const FLUSH_EVERY_MS = 100;
export const AUDIT_HALF_BYTES = 512 * 1024;

export class OutputStream {
  private readonly decoder = new TextDecoder("utf-8", { fatal: false });
  private carry: Buffer = Buffer.alloc(0);
  /** The start of a sequence the last read cut short (at most 3 bytes); the next read completes it. */
  private pending: Buffer = Buffer.alloc(0);
  /** A send waiting for room in the outbox; everything after it waits too, so the order is kept. */
  private busy: Promise<void> | undefined;
  private readonly timer: ReturnType<typeof setInterval>;
  readonly audit = new AuditCopy(AUDIT_HALF_BYTES);
  private taken = false;

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
    return this.chain(this.take(this.complete(bytes)));
  }

  /** Text the agent adds itself (a start failure), streamed like output. */
  writeText(text: string): undefined | Promise<void> {
    return this.write(Buffer.from(text));
  }

  /** The final flush: the decoder's incomplete tail (as U+FFFD) and whatever is buffered. */
  async end(): Promise<void> {
    clearInterval(this.timer);
    await this.busy;
    const cutShort = this.pending;
    this.pending = Buffer.alloc(0);
    if (cutShort.length > 0) await this.take(Buffer.from(this.decoder.decode(cutShort)));
    await this.flushCarry();
  }

  /** Once the console took a chunk of this command, the fin is the audit copy, even if the dialect changes later. */
  accepted(): boolean {
    if (!this.taken) this.taken = this.sink.accepted();
    return this.taken;
  }

  private chain(wait: undefined | Promise<void>): undefined | Promise<void> {
    if (!wait) return undefined;
    const done = wait.finally(() => {
      if (this.busy === done) this.busy = undefined;
    });
    this.busy = done;
    return done;
  }

  /**
   * The complete sequences of what was read so far, as valid UTF-8 (invalid bytes as U+FFFD, as a streaming
   * TextDecoder gives them); a sequence cut short at the end is held back for the next read.
   */
  private complete(bytes: Uint8Array): Buffer {
    let data = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (this.pending.length > 0) data = Buffer.concat([this.pending, data]);
    const end = completeEnd(data);
    this.pending = end < data.length ? Buffer.from(data.subarray(end)) : Buffer.alloc(0);
    const whole = data.subarray(0, end);
    return isUtf8(whole) ? whole : Buffer.from(this.decoder.decode(whole));
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
    // A copy: `data` may be a view of the reader's bytes.
    this.carry = offset === data.length ? Buffer.alloc(0) : Buffer.from(data.subarray(offset));
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
  /** The last `half` bytes after the head, in a ring allocated once the output outgrows the head. */
  private ring: Buffer | undefined;
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
    this.ring ??= Buffer.alloc(this.half);
    if (rest.length > this.half) {
      this.tailBytes += rest.length - this.half;
      rest = rest.subarray(rest.length - this.half);
    }
    const at = this.tailBytes % this.half;
    const first = rest.subarray(0, this.half - at);
    first.copy(this.ring, at);
    if (first.length < rest.length) rest.subarray(first.length).copy(this.ring, 0);
    this.tailBytes += rest.length;
  }

  /** The last min(tailBytes, half) bytes after the head, in order. */
  private tail(): Buffer {
    if (!this.ring) return Buffer.alloc(0);
    const kept = Math.min(this.tailBytes, this.half);
    const start = (this.tailBytes - kept) % this.half;
    if (start + kept <= this.half) return this.ring.subarray(start, start + kept);
    return Buffer.concat([this.ring.subarray(start), this.ring.subarray(0, start + kept - this.half)]);
  }

  /** The text; over 2 × half, the middle is replaced by `\n... [<N> bytes truncated] ...\n`. */
  text(): string {
    const head = Buffer.concat(this.head);
    const tail = this.tail();
    if (this.total <= 2 * this.half) return Buffer.concat([head, tail]).toString("utf8");
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

/** Where a sequence cut short at the end of `data` starts (data.length when none is). */
function completeEnd(data: Buffer): number {
  let start = data.length;
  // Back over at most 3 continuation bytes to the byte that starts the last sequence.
  while (start > 0 && data.length - start < 3 && (data[start - 1]! & 0xc0) === 0x80) start--;
  if (start === 0) return data.length;
  const lead = data[start - 1]!;
  const need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : lead >= 0xc0 ? 2 : 1;
  return data.length - (start - 1) < need ? start - 1 : data.length;
}
