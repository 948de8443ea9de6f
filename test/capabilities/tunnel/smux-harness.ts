// Test harness for the smux session: a transport that records what the session sends and whether it asked
// to pause, a logger that keeps warnings, hand-built frames, and a bounded wait on the event loop.
import type { Logger } from "../../../src/log/logger.ts";
import { type Frame, FrameDecoder } from "../../../src/capabilities/tunnel/smux-frame.ts";
import type { SmuxTransport } from "../../../src/capabilities/tunnel/smux-session.ts";

export class FakeTransport implements SmuxTransport {
  readonly sent: Uint8Array[] = [];
  paused = false;
  pauses = 0;
  resumes = 0;
  closes = 0;
  /** When set, send() returns it (the socket is "full" until it settles). */
  gate: Promise<void> | undefined;

  send(frame: Uint8Array): void | Promise<void> {
    this.sent.push(frame);
    return this.gate;
  }
  pause(): void {
    this.paused = true;
    this.pauses++;
  }
  resume(): void {
    this.paused = false;
    this.resumes++;
  }
  close(): void {
    this.closes++;
  }

  /** Every sent message decoded; each must be exactly one frame. */
  frames(): Frame[] {
    return this.sent.map((message) => {
      const decoder = new FrameDecoder(1 << 20);
      decoder.push(message);
      const decoded = decoder.next();
      if (decoded.kind !== "frame" || decoder.buffered !== 0) throw new Error("a sent message is not exactly one frame");
      return decoded.frame;
    });
  }
}

export function recordingLogger(): Logger & { warnings: string[] } {
  const warnings: string[] = [];
  const log = {
    warnings,
    debug: () => {},
    info: () => {},
    warn: (message: string) => {
      warnings.push(message);
    },
    error: () => {},
    child: () => log,
  };
  return log;
}

/** A frame written out byte by byte: version, cmd, length (LE), stream id (LE), payload. */
export function rawFrame(
  version: number,
  cmd: number,
  streamId: number,
  payload: Uint8Array = new Uint8Array(0),
  length = payload.length,
): Uint8Array {
  const out = new Uint8Array(8 + payload.length);
  out[0] = version;
  out[1] = cmd;
  out[2] = length & 0xff;
  out[3] = (length >> 8) & 0xff;
  out[4] = streamId & 0xff;
  out[5] = (streamId >>> 8) & 0xff;
  out[6] = (streamId >>> 16) & 0xff;
  out[7] = (streamId >>> 24) & 0xff;
  out.set(payload, 8);
  return out;
}

export const syn = (sid: number) => rawFrame(1, 0, sid);
export const fin = (sid: number) => rawFrame(1, 1, sid);
export const psh = (sid: number, payload: Uint8Array) => rawFrame(1, 2, sid, payload);
export const nop = () => rawFrame(1, 3, 0);

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

export function bytes(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/** Turns the event loop (no timed sleep) until `condition` holds; fails after a bounded number of turns. */
export async function until(condition: () => boolean, what: string): Promise<void> {
  for (let turn = 0; turn < 1000; turn++) {
    if (condition()) return;
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  throw new Error(`never happened: ${what}`);
}

/** A few event-loop turns, to show that something does NOT happen. */
export async function settle(): Promise<void> {
  for (let turn = 0; turn < 20; turn++) await new Promise<void>((resolve) => setImmediate(resolve));
}
