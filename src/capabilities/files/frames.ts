// Length-prefixed framing for data sent to a worker's stdin: each chunk carries its length and an empty
// frame ends the stream, so the worker can tell a complete transfer from one cut short (a plain EOF) and
// never keeps a truncated file. Pure stream plumbing; holds at most one chunk.

const MAX_FRAME = 16 * 1024 * 1024;

function header(length: number): Uint8Array {
  const h = new Uint8Array(4);
  new DataView(h.buffer).setUint32(0, length);
  return h;
}

/** Frames every chunk of `source`; the end marker is written only when the source ends cleanly. */
export function encodeFrames(source: AsyncIterable<Uint8Array>): ReadableStream<Uint8Array> {
  const it = source[Symbol.asyncIterator]();
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const next = await it.next();
        if (next.done) {
          controller.enqueue(header(0));
          controller.close();
          return;
        }
        for (let off = 0; off < next.value.length; off += MAX_FRAME) {
          const part = next.value.subarray(off, off + MAX_FRAME);
          controller.enqueue(header(part.length));
          controller.enqueue(part);
        }
      },
      async cancel(reason) {
        await it.return?.(reason);
      },
    },
    { highWaterMark: 0 },
  );
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
        need = new DataView(data.buffer, data.byteOffset, 4).getUint32(0);
        data = data.subarray(4);
        if (need === 0) return;
        if (need > MAX_FRAME) throw new Error("bad frame length");
        continue;
      }
      const take = Math.min(need, data.length);
      yield data.subarray(0, take);
      need -= take;
      data = data.subarray(take);
      if (need === 0) need = -1;
    }
  }
  throw new Error("the transfer was cut short");
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
