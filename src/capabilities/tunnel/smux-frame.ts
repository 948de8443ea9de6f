// smux v1 frames (spec/upstream-2026.md §8.3): an 8-byte header (version, cmd, payload length uint16 LE,
// stream id uint32 LE) and the payload. A pure codec: never does I/O, never throws on peer bytes (a bad
// frame is a result, not an exception), and holds at most `maxBuffered` undecoded bytes.

export const SMUX_VERSION = 1;
export const HEADER_SIZE = 8;
/** Largest payload we send in one frame; a peer may send up to the uint16 maximum, 65 535. */
export const MAX_SEND_PAYLOAD = 32 * 1024;

export const Cmd = { SYN: 0, FIN: 1, PSH: 2, NOP: 3 } as const;
export type Cmd = (typeof Cmd)[keyof typeof Cmd];
/** v2 window update: a protocol error in v1. */
const CMD_UPD = 4;

export interface Frame {
  cmd: Cmd;
  streamId: number;
  payload: Uint8Array;
}

export type Decoded = { kind: "frame"; frame: Frame } | { kind: "need-more" } | { kind: "error"; reason: string };

const EMPTY = new Uint8Array(0);

/** One frame as one buffer (one WebSocket message). Throws only on our own misuse: an oversized payload or a bad id. */
export function encodeFrame(cmd: Cmd, streamId: number, payload: Uint8Array = EMPTY): Uint8Array {
  return encodeFrameInto(new Uint8Array(HEADER_SIZE + payload.length), cmd, streamId, payload);
}

/** Like encodeFrame, into the start of `out` (at least HEADER_SIZE + payload bytes); returns the frame as a view of it. */
export function encodeFrameInto(out: Uint8Array, cmd: Cmd, streamId: number, payload: Uint8Array = EMPTY): Uint8Array {
  if (payload.length > MAX_SEND_PAYLOAD) throw new RangeError(`smux payload of ${payload.length} bytes exceeds ${MAX_SEND_PAYLOAD}`);
  if (!Number.isInteger(streamId) || streamId < 0 || streamId > 0xffff_ffff) throw new RangeError(`bad smux stream id ${streamId}`);
  const length = HEADER_SIZE + payload.length;
  if (out.length < length) throw new RangeError(`a ${length}-byte frame does not fit in ${out.length} bytes`);
  writeHeader(out, 0, cmd, streamId, payload.length);
  out.set(payload, HEADER_SIZE);
  return length === out.length ? out : out.subarray(0, length);
}

/**
 * A PSH frame for `buffer[at, at + length)` without copying it: the header goes into the 8 bytes before `at`,
 * which the caller must no longer need (the part before, already sent). Returns the frame as a view.
 */
export function framePayloadInPlace(buffer: Uint8Array, at: number, length: number, streamId: number): Uint8Array {
  if (length > MAX_SEND_PAYLOAD) throw new RangeError(`smux payload of ${length} bytes exceeds ${MAX_SEND_PAYLOAD}`);
  if (at < HEADER_SIZE || at + length > buffer.length) throw new RangeError("no room for an smux header in place");
  writeHeader(buffer, at - HEADER_SIZE, Cmd.PSH, streamId, length);
  return buffer.subarray(at - HEADER_SIZE, at + length);
}

function writeHeader(out: Uint8Array, at: number, cmd: Cmd, streamId: number, length: number): void {
  out[at] = SMUX_VERSION;
  out[at + 1] = cmd;
  out[at + 2] = length & 0xff;
  out[at + 3] = length >>> 8;
  out[at + 4] = streamId & 0xff;
  out[at + 5] = (streamId >>> 8) & 0xff;
  out[at + 6] = (streamId >>> 16) & 0xff;
  out[at + 7] = streamId >>> 24;
}

/**
 * Incremental decoder: `push` byte slices as they arrive (a frame may span slices, a slice may hold many
 * frames), then call `next` until it says `need-more`. The first error is sticky. Pushed slices are kept
 * by reference until decoded, so the caller must not reuse them.
 *
 * Payloads are copies by default. With `borrow`, a payload that lies in one slice and fills at least half of
 * that slice's ArrayBuffer is returned as a view instead (no copy): only for callers whose slices are never
 * reused (one fresh buffer per WebSocket message). A payload that would pin a much larger buffer is still
 * copied, so what the payloads hold in memory stays within twice their own length.
 */
export class FrameDecoder {
  private chunks: Uint8Array[] = [];
  /** Read position in chunks[0]. */
  private offset = 0;
  private size = 0;
  private failure: string | undefined;
  private readonly scratch = new Uint8Array(HEADER_SIZE);
  private readonly borrow: boolean;

  constructor(
    private readonly maxBuffered: number,
    options: { borrow?: boolean } = {},
  ) {
    this.borrow = options.borrow ?? false;
  }

  /** Undecoded bytes held. */
  get buffered(): number {
    return this.size;
  }

  /** Appends `bytes`; refuses them (returns false, keeps nothing) when the buffer would exceed its bound. */
  push(bytes: Uint8Array): boolean {
    if (this.size + bytes.length > this.maxBuffered) return false;
    if (bytes.length > 0) {
      this.chunks.push(bytes);
      this.size += bytes.length;
    }
    return true;
  }

  next(): Decoded {
    if (this.failure !== undefined) return { kind: "error", reason: this.failure };
    if (this.size < HEADER_SIZE) return { kind: "need-more" };
    let head = this.chunks[0]!;
    let at = this.offset;
    if (head.length - at < HEADER_SIZE) {
      this.copyOut(this.scratch, HEADER_SIZE, false);
      head = this.scratch;
      at = 0;
    }
    const version = head[at]!;
    const cmd = head[at + 1]!;
    const length = head[at + 2]! | (head[at + 3]! << 8);
    const streamId = (head[at + 4]! | (head[at + 5]! << 8) | (head[at + 6]! << 16) | (head[at + 7]! << 24)) >>> 0;
    const problem = checkHeader(version, cmd, length);
    if (problem !== undefined) {
      this.failure = problem;
      this.chunks = [];
      this.size = 0;
      return { kind: "error", reason: problem };
    }
    if (this.size < HEADER_SIZE + length) return { kind: "need-more" };
    this.skip(HEADER_SIZE);
    return { kind: "frame", frame: { cmd: cmd as Cmd, streamId, payload: length === 0 ? EMPTY : this.take(length) } };
  }

  /** Drops the next `n` bytes. */
  private skip(n: number): void {
    this.size -= n;
    let offset = this.offset + n;
    while (offset > 0 && offset >= this.chunks[0]!.length) {
      offset -= this.chunks[0]!.length;
      this.chunks.shift();
    }
    this.offset = offset;
  }

  /** Removes and returns the next `n` bytes: a view when borrowing allows it, else a copy of their own. */
  private take(n: number): Uint8Array {
    const head = this.chunks[0]!;
    if (this.borrow && head.length - this.offset >= n && 2 * n >= head.buffer.byteLength) {
      const view = head.subarray(this.offset, this.offset + n);
      this.skip(n);
      return view;
    }
    const out = new Uint8Array(n);
    this.copyOut(out, n, true);
    return out;
  }

  private copyOut(into: Uint8Array, n: number, consume: boolean): void {
    let written = 0;
    let index = 0;
    let offset = this.offset;
    while (written < n) {
      const chunk = this.chunks[index]!;
      const count = Math.min(n - written, chunk.length - offset);
      into.set(chunk.subarray(offset, offset + count), written);
      written += count;
      offset += count;
      if (offset === chunk.length) {
        index++;
        offset = 0;
      }
    }
    if (!consume) return;
    this.chunks.splice(0, index);
    this.offset = offset;
    this.size -= n;
  }
}

function checkHeader(version: number, cmd: number, length: number): string | undefined {
  if (version !== SMUX_VERSION) return `unsupported smux version ${version}`;
  if (cmd === CMD_UPD) return "window update (UPD) in smux v1";
  if (cmd > Cmd.NOP) return `unknown smux cmd ${cmd}`;
  if (cmd !== Cmd.PSH && length !== 0) return `smux cmd ${cmd} with a ${length}-byte payload`;
  return undefined;
}
