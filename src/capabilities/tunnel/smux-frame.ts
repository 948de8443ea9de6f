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
  if (payload.length > MAX_SEND_PAYLOAD) throw new RangeError(`smux payload of ${payload.length} bytes exceeds ${MAX_SEND_PAYLOAD}`);
  if (!Number.isInteger(streamId) || streamId < 0 || streamId > 0xffff_ffff) throw new RangeError(`bad smux stream id ${streamId}`);
  const out = new Uint8Array(HEADER_SIZE + payload.length);
  const view = new DataView(out.buffer);
  view.setUint8(0, SMUX_VERSION);
  view.setUint8(1, cmd);
  view.setUint16(2, payload.length, true);
  view.setUint32(4, streamId, true);
  out.set(payload, HEADER_SIZE);
  return out;
}

/**
 * Incremental decoder: `push` byte slices as they arrive (a frame may span slices, a slice may hold many
 * frames), then call `next` until it says `need-more`. The first error is sticky. Pushed slices are kept
 * by reference until decoded, so the caller must not reuse them.
 */
export class FrameDecoder {
  private chunks: Uint8Array[] = [];
  /** Read position in chunks[0]. */
  private offset = 0;
  private size = 0;
  private failure: string | undefined;
  private readonly scratch = new Uint8Array(HEADER_SIZE);

  constructor(private readonly maxBuffered: number) {}

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
    const header = this.peekHeader();
    const version = header.getUint8(0);
    const cmd = header.getUint8(1);
    const length = header.getUint16(2, true);
    const streamId = header.getUint32(4, true);
    const problem = checkHeader(version, cmd, length);
    if (problem !== undefined) {
      this.failure = problem;
      this.chunks = [];
      this.size = 0;
      return { kind: "error", reason: problem };
    }
    if (this.size < HEADER_SIZE + length) return { kind: "need-more" };
    this.take(HEADER_SIZE);
    return { kind: "frame", frame: { cmd: cmd as Cmd, streamId, payload: length === 0 ? EMPTY : this.take(length) } };
  }

  private peekHeader(): DataView {
    const head = this.chunks[0]!;
    if (head.length - this.offset >= HEADER_SIZE) return new DataView(head.buffer, head.byteOffset + this.offset, HEADER_SIZE);
    this.copyOut(this.scratch, HEADER_SIZE, false);
    return new DataView(this.scratch.buffer);
  }

  /** Removes and returns the next `n` bytes as a copy of their own. */
  private take(n: number): Uint8Array {
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
