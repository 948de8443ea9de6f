// Seeded fuzz of the smux decoder and session: random garbage, mutated valid traffic and valid traffic cut at
// random points. Nothing throws out, garbage closes the session, and valid traffic arrives intact whatever
// the slicing. Replays from ALPAMON_FUZZ_SEED; ALPAMON_FUZZ_LONG=1 runs the long form.
import { expect, test } from "bun:test";
import { FrameDecoder } from "../../../src/capabilities/tunnel/smux-frame.ts";
import { SmuxSession, type SmuxStream } from "../../../src/capabilities/tunnel/smux-session.ts";
import { createStreamSlots } from "../../../src/capabilities/tunnel/stream-slots.ts";
import { silentLogger } from "../../../src/log/logger.ts";
import { ManualClock } from "../../../src/platform/clock.ts";
import { LONG, Rand, SEED } from "../../fuzz/rand.ts";
import { concat, FakeTransport, fin, nop, psh, rawFrame, syn } from "./smux-harness.ts";

const CASES = LONG ? 20_000 : 1_500;
const TIME_BOX_MS = LONG ? 600_000 : 8_000;

function randomBytes(r: Rand, length: number): Uint8Array {
  return Uint8Array.from({ length }, () => r.int(0, 255));
}

/** Cuts `data` into random slices, some empty, some single bytes, some long. */
function slices(r: Rand, data: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  let at = 0;
  while (at < data.length) {
    const size = r.pick([0, 1, 2, 7, 8, 9, r.int(1, 64), r.int(1, 4096), data.length]);
    out.push(data.slice(at, at + size));
    at += size;
  }
  return out;
}

function newSession() {
  const transport = new FakeTransport();
  const session = new SmuxSession({ transport, clock: new ManualClock(), log: silentLogger, slots: createStreamSlots(silentLogger) });
  return { transport, session };
}

/** A valid exchange: SYNs, PSHs, FINs and NOPs on a few even ids; returns the bytes and what each stream must read. */
function validTraffic(r: Rand): { wire: Uint8Array; expected: Map<number, Uint8Array[]> } {
  const frames: Uint8Array[] = [];
  const expected = new Map<number, Uint8Array[]>();
  const finished = new Set<number>();
  for (let i = r.int(1, 30); i > 0; i--) {
    const sid = 2 * r.int(1, 4);
    if (!expected.has(sid)) {
      expected.set(sid, []);
      frames.push(syn(sid));
    } else if (finished.has(sid) || r.chance(0.1)) {
      frames.push(r.chance(0.5) ? nop() : fin(sid));
      finished.add(sid);
    } else {
      const payload = randomBytes(r, r.pick([1, 8, r.int(1, 300), r.int(1, 5000)]));
      frames.push(psh(sid, payload));
      expected.get(sid)!.push(payload);
    }
  }
  return { wire: concat(...frames), expected };
}

async function readAll(stream: SmuxStream): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for (let chunk = await stream.read(); chunk; chunk = await stream.read()) parts.push(chunk);
  return concat(...parts);
}

test(
  "the decoder and the session never throw on random, mutated or sliced input; garbage closes the session",
  async () => {
    const r = new Rand(SEED);
    const started = performance.now();
    let garbageClosed = 0;
    let mutatedClosed = 0;
    let validIntact = 0;
    let cases = 0;
    for (; cases < CASES && performance.now() - started < TIME_BOX_MS; cases++) {
      const kind = cases % 3;
      const { transport, session } = newSession();
      const decoder = new FrameDecoder(1 << 20);
      if (kind === 0) {
        // Garbage that does not start with version 1 is a protocol error as soon as 8 bytes are in.
        const garbage = randomBytes(r, r.int(8, 2000));
        if (garbage[0] === 1) garbage[0] = r.pick([0, 2, 255]);
        for (const slice of slices(r, garbage)) {
          session.receive(slice);
          decoder.push(slice);
        }
        expect(decoder.next().kind).toBe("error");
        expect(session.isClosed).toBe(true);
        expect(transport.closes).toBe(1);
        garbageClosed++;
      } else if (kind === 1) {
        // Valid traffic with random bytes flipped, cut or inserted: anything may happen except a throw.
        const { wire } = validTraffic(r);
        const mutated = Uint8Array.from(wire);
        for (let i = r.int(1, 8); i > 0; i--) mutated[r.int(0, mutated.length - 1)] = r.int(0, 255);
        const input = r.chance(0.3) ? concat(mutated, rawFrame(r.int(2, 255), r.int(0, 255), r.int(0, 2 ** 31))) : mutated;
        for (const slice of slices(r, input)) {
          session.receive(slice);
          decoder.push(slice);
          for (let d = decoder.next(); d.kind === "frame"; d = decoder.next()) {}
        }
        if (session.isClosed) mutatedClosed++;
        session.close();
      } else {
        // Valid traffic, cut anywhere: every stream reads exactly what was sent to it.
        const { wire, expected } = validTraffic(r);
        for (const slice of slices(r, wire)) session.receive(slice);
        expect(session.isClosed).toBe(false);
        for (let i = 0; i < expected.size; i++) {
          const stream = (await session.accept())!;
          const sent = expected.get(stream.id)!;
          // Streams the peer did not finish are ended by closing the session after their data is read.
          const read = readAllBefore(
            stream,
            sent.reduce((n, p) => n + p.length, 0),
          );
          expect(await read).toEqual(concat(...sent));
        }
        session.close();
        validIntact++;
      }
    }
    expect(cases).toBeGreaterThan(300);
    expect(garbageClosed).toBeGreaterThan(100);
    expect(mutatedClosed).toBeGreaterThan(10);
    expect(validIntact).toBeGreaterThan(100);
  },
  LONG ? 900_000 : 20_000,
);

/** Reads until `length` bytes arrived or the stream ended. */
async function readAllBefore(stream: SmuxStream, length: number): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let got = 0;
  while (got < length) {
    const chunk = await stream.read();
    if (!chunk) break;
    parts.push(chunk);
    got += chunk.length;
  }
  return concat(...parts);
}

test("a finished stream reads to its end after a sliced delivery", async () => {
  const r = new Rand(SEED + 1);
  for (let i = 0; i < 200; i++) {
    const { session } = newSession();
    const payloads = Array.from({ length: r.int(1, 6) }, () => randomBytes(r, r.int(1, 3000)));
    const wire = concat(syn(2), ...payloads.map((p) => psh(2, p)), fin(2));
    for (const slice of slices(r, wire)) session.receive(slice);
    expect(await readAll((await session.accept())!)).toEqual(concat(...payloads));
    session.close();
  }
});
