// The worker's side of its pipes: bytes to stdout with backpressure (a slow reader pauses the worker instead
// of growing its memory) and one JSON status line. Used only inside the worker process.
import { read, readSync, writeSync } from "node:fs";
import { InputError } from "./frames.ts";

/** Writes to stdout and waits while the pipe is full. */
export async function writeOut(chunk: Uint8Array | string): Promise<void> {
  if (process.stdout.write(chunk)) return;
  await new Promise<void>((resolve, reject) => {
    const done = () => {
      process.stdout.off("error", fail);
      resolve();
    };
    const fail = (err: Error) => {
      process.stdout.off("drain", done);
      reject(err);
    };
    process.stdout.once("drain", done);
    process.stdout.once("error", fail);
  });
}

/** Resolves once everything written so far has left the process. */
export async function flushOut(): Promise<void> {
  await new Promise<void>((resolve) => process.stdout.write("", () => resolve()));
}

export function statusLine(value: Record<string, unknown>): string {
  return `${JSON.stringify(value)}\n`;
}

const INPUT_CHUNK = 256 * 1024;

/**
 * Reads stdin synchronously into one reused buffer: each yielded view is valid until the next one is asked
 * for, so the consumer must use it before continuing (the write job writes it out at once). No garbage per chunk.
 */
export async function* stdinChunks(fd = 0): AsyncGenerator<Uint8Array> {
  const buffer = Buffer.allocUnsafe(INPUT_CHUNK);
  for (;;) {
    let n: number;
    try {
      n = readSync(fd, buffer, 0, INPUT_CHUNK, null);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EAGAIN") {
        await Bun.sleep(1);
        continue;
      }
      throw err;
    }
    if (n === 0) return;
    yield buffer.subarray(0, n);
  }
}

/** After the idle time, how long a read still gets to complete (a process that was stopped resumes with both due). */
const IDLE_GRACE_MS = 100;

/** One read of `fd` into `buffer`, in the background (a read on a pipe may block); fails after `idleMs` of silence. */
function readWithin(fd: number, buffer: Buffer, idleMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    let timer = setTimeout(() => {
      timer = setTimeout(() => reject(new InputError(`no data for ${Math.round(idleMs / 1000)} s`)), IDLE_GRACE_MS);
    }, idleMs);
    read(fd, buffer, 0, buffer.length, null, (err, n) => {
      clearTimeout(timer);
      if (err) reject(err);
      else resolve(n);
    });
  });
}

/**
 * Exactly `size` raw bytes from stdin (the agent hands the HTTP body of a download with a known length straight
 * to the pipe, without frames), read into one reused buffer like stdinChunks, so each view is valid until the
 * next one is asked for. Fails when the input ends early, runs long, or is silent for `idleMs` (the time the
 * consumer spends writing is not counted). After a silent input a read is still pending: the worker must exit.
 */
export async function* sizedStdin(size: number, idleMs: number, fd = 0): AsyncGenerator<Uint8Array> {
  const buffer = Buffer.allocUnsafe(INPUT_CHUNK);
  let got = 0;
  for (;;) {
    const n = await readWithin(fd, buffer, idleMs);
    if (n === 0) break;
    got += n;
    if (got > size) throw new InputError(`more data than the announced ${size} bytes`);
    yield buffer.subarray(0, n);
  }
  if (got < size) throw new InputError("the transfer was cut short");
}

/** Writes all of `chunk` to stdout synchronously (waiting while the pipe is full); the chunk may be reused after. */
export async function writeOutSync(chunk: Uint8Array, fd = 1): Promise<void> {
  for (let off = 0; off < chunk.length; ) {
    try {
      off += writeSync(fd, chunk, off);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EAGAIN") throw err;
      await Bun.sleep(1);
    }
  }
}
