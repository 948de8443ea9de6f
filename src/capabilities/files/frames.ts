// Length-prefixed framing for data sent to a worker's stdin: each chunk carries its length and an empty
// frame ends the stream, so the worker can tell a complete transfer from one cut short (a plain EOF) and
// never keeps a truncated file. Pure byte plumbing: the writer adds a 4-byte header per chunk (no copy of the
// payload); the reader yields views of its input and holds at most 3 bytes of a split header.

/** The worker's input (not its disk) failed: cut short, silent for too long, or longer than announced. */
export class InputError extends Error {}

/** The largest payload one frame carries; a longer chunk is split. */
export const MAX_FRAME = 16 * 1024 * 1024;

/** The 4-byte big-endian header of a frame of `length` bytes; frameHeader(0) ends the stream. */
export function frameHeader(length: number): Uint8Array {
  return new Uint8Array([length >>> 24, (length >>> 16) & 0xff, (length >>> 8) & 0xff, length & 0xff]);
}

/** Yields the payload of framed input; throws when the input ends before the end marker. */
export async function* decodeFrames(input: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  let pending = new Uint8Array(0);
  let need = -1; // payload bytes still expected in the current frame; -1 while reading a header
  for await (const chunk of input) {
    let data = pending.length ? concat(pending, chunk) : chunk;
    pending = new Uint8Array(0);
    while (data.length > 0) {
      if (need < 0) {
        if (data.length < 4) {
          pending = data.slice();
          break;
        }
        need = ((data[0]! << 24) | (data[1]! << 16) | (data[2]! << 8) | data[3]!) >>> 0;
        data = data.subarray(4);
        if (need === 0) return;
        if (need > MAX_FRAME) throw new InputError("bad frame length");
        continue;
      }
      const take = Math.min(need, data.length);
      yield data.subarray(0, take);
      need -= take;
      data = data.subarray(take);
      if (need === 0) need = -1;
    }
  }
  throw new InputError("the transfer was cut short");
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
