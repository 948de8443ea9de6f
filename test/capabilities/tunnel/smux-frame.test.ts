// The smux v1 codec on frames written out by hand: every cmd, the little-endian fields, bad versions, UPD,
// frames split across slices and packed into one, and the length limits on both sides.
import { describe, expect, test } from "bun:test";
import {
  Cmd,
  type Decoded,
  encodeFrame,
  encodeFrameInto,
  FrameDecoder,
  framePayloadInPlace,
  HEADER_SIZE,
  MAX_SEND_PAYLOAD,
  SMUX_VERSION,
} from "../../../src/capabilities/tunnel/smux-frame.ts";
import { bytes, concat, rawFrame } from "./smux-harness.ts";

function decodeAll(decoder: FrameDecoder): Decoded[] {
  const out: Decoded[] = [];
  for (;;) {
    const decoded = decoder.next();
    out.push(decoded);
    if (decoded.kind !== "frame") return out;
  }
}

function decodeOne(...slices: Uint8Array[]): Decoded {
  const decoder = new FrameDecoder(1 << 20);
  for (const slice of slices) decoder.push(slice);
  return decoder.next();
}

describe("encodeFrame", () => {
  test("writes the header byte by byte: version 1, cmd, length and stream id little-endian", () => {
    expect(SMUX_VERSION).toBe(1);
    expect(HEADER_SIZE).toBe(8);
    expect([...encodeFrame(Cmd.SYN, 2)]).toEqual([1, 0, 0, 0, 2, 0, 0, 0]);
    expect([...encodeFrame(Cmd.FIN, 0x0102_0304)]).toEqual([1, 1, 0, 0, 4, 3, 2, 1]);
    expect([...encodeFrame(Cmd.PSH, 0xfffe_fdfc, bytes("hi"))]).toEqual([1, 2, 2, 0, 0xfc, 0xfd, 0xfe, 0xff, 104, 105]);
    expect([...encodeFrame(Cmd.NOP, 0)]).toEqual([1, 3, 0, 0, 0, 0, 0, 0]);
    const big = encodeFrame(Cmd.PSH, 7, new Uint8Array(0x1234));
    expect([...big.subarray(0, 8)]).toEqual([1, 2, 0x34, 0x12, 7, 0, 0, 0]);
  });

  test("sends at most 32 KiB of payload per frame and only valid stream ids", () => {
    expect(MAX_SEND_PAYLOAD).toBe(32_768);
    expect(encodeFrame(Cmd.PSH, 1, new Uint8Array(32_768)).length).toBe(32_776);
    expect(() => encodeFrame(Cmd.PSH, 1, new Uint8Array(32_769))).toThrow(RangeError);
    expect(() => encodeFrame(Cmd.SYN, -1)).toThrow(RangeError);
    expect(() => encodeFrame(Cmd.SYN, 2 ** 32)).toThrow(RangeError);
  });
});

describe("framing in place", () => {
  test("writes the header into the 8 bytes before the payload and returns the frame as a view", () => {
    const buffer = new Uint8Array(40_000).map((_, i) => i % 251);
    const original = buffer.slice();
    const frame = framePayloadInPlace(buffer, 32_768, 7_232, 5);
    expect(frame.buffer).toBe(buffer.buffer);
    expect(frame.length).toBe(8 + 7_232);
    expect([...frame.subarray(0, 8)]).toEqual([1, 2, 0x40, 0x1c, 5, 0, 0, 0]);
    expect(frame.subarray(8)).toEqual(original.subarray(32_768));
    // Only the 8 bytes before the payload changed.
    expect(buffer.subarray(0, 32_760)).toEqual(original.subarray(0, 32_760));
    expect(() => framePayloadInPlace(buffer, 4, 10, 5)).toThrow(RangeError);
    expect(() => framePayloadInPlace(buffer, 8, 32_769, 5)).toThrow(RangeError);
    expect(() => framePayloadInPlace(buffer, 39_000, 2_000, 5)).toThrow(RangeError);
  });

  test("encodeFrameInto builds the same bytes as encodeFrame in a reused buffer", () => {
    const out = new Uint8Array(HEADER_SIZE + MAX_SEND_PAYLOAD);
    expect(encodeFrameInto(out, Cmd.PSH, 9, bytes("abc"))).toEqual(encodeFrame(Cmd.PSH, 9, bytes("abc")));
    expect(encodeFrameInto(out, Cmd.FIN, 9)).toEqual(encodeFrame(Cmd.FIN, 9));
    expect(encodeFrameInto(out, Cmd.PSH, 1, new Uint8Array(MAX_SEND_PAYLOAD)).length).toBe(out.length);
    expect(() => encodeFrameInto(new Uint8Array(10), Cmd.PSH, 1, bytes("abc"))).toThrow(RangeError);
  });
});

describe("FrameDecoder", () => {
  test("decodes every v1 cmd from hand-built bytes", () => {
    expect(decodeOne(Uint8Array.of(1, 0, 0, 0, 2, 0, 0, 0))).toEqual({
      kind: "frame",
      frame: { cmd: Cmd.SYN, streamId: 2, payload: new Uint8Array(0) },
    });
    expect(decodeOne(Uint8Array.of(1, 1, 0, 0, 4, 3, 2, 1))).toEqual({
      kind: "frame",
      frame: { cmd: Cmd.FIN, streamId: 0x0102_0304, payload: new Uint8Array(0) },
    });
    expect(decodeOne(Uint8Array.of(1, 2, 3, 0, 0xfc, 0xfd, 0xfe, 0xff, 7, 8, 9))).toEqual({
      kind: "frame",
      frame: { cmd: Cmd.PSH, streamId: 0xfffe_fdfc, payload: Uint8Array.of(7, 8, 9) },
    });
    expect(decodeOne(Uint8Array.of(1, 3, 0, 0, 0, 0, 0, 0))).toEqual({
      kind: "frame",
      frame: { cmd: Cmd.NOP, streamId: 0, payload: new Uint8Array(0) },
    });
  });

  test("reads a round trip of what it encodes", () => {
    const payload = bytes("round trip");
    expect(decodeOne(encodeFrame(Cmd.PSH, 40, payload))).toEqual({ kind: "frame", frame: { cmd: Cmd.PSH, streamId: 40, payload } });
  });

  test("a wrong version is a protocol error, and the error is sticky", () => {
    for (const version of [0, 2, 255]) {
      const decoder = new FrameDecoder(1 << 20);
      decoder.push(concat(rawFrame(version, 0, 2), rawFrame(1, 3, 0)));
      const first = decoder.next();
      expect(first.kind).toBe("error");
      expect(first.kind === "error" && first.reason).toContain(`version ${version}`);
      expect(decoder.next()).toEqual(first);
      expect(decoder.buffered).toBe(0);
    }
  });

  test("UPD (the v2 window update) is a protocol error in v1, as is any unknown cmd", () => {
    const upd = decodeOne(rawFrame(1, 4, 2, new Uint8Array(8)));
    expect(upd.kind === "error" && upd.reason).toContain("UPD");
    for (const cmd of [5, 127, 255]) {
      const decoded = decodeOne(rawFrame(1, cmd, 2));
      expect(decoded.kind === "error" && decoded.reason).toContain(`cmd ${cmd}`);
    }
  });

  test("SYN, FIN and NOP must carry no payload", () => {
    for (const cmd of [0, 1, 3]) {
      const decoded = decodeOne(rawFrame(1, cmd, 2, new Uint8Array(1)));
      expect(decoded.kind).toBe("error");
    }
  });

  test("reports a bad header before its payload has arrived", () => {
    // Only the header of a UPD with an 8-byte payload: the error must not wait for the payload.
    expect(decodeOne(rawFrame(1, 4, 2, new Uint8Array(0), 8)).kind).toBe("error");
  });

  // Slices are copies with buffers of their own, as separate WebSocket messages are.
  test("a frame split at every byte decodes only when its last byte arrives", () => {
    const whole = rawFrame(1, 2, 0x0a0b_0c0d, bytes("split payload"));
    const decoder = new FrameDecoder(1 << 20);
    for (let i = 0; i < whole.length - 1; i++) {
      decoder.push(whole.slice(i, i + 1));
      expect(decoder.next()).toEqual({ kind: "need-more" });
    }
    decoder.push(whole.slice(whole.length - 1));
    expect(decoder.next()).toEqual({ kind: "frame", frame: { cmd: Cmd.PSH, streamId: 0x0a0b_0c0d, payload: bytes("split payload") } });
    expect(decoder.buffered).toBe(0);
  });

  test("a header split across three slices and a payload across two", () => {
    const whole = rawFrame(1, 2, 6, bytes("abcdef"));
    const decoded = decodeOne(whole.slice(0, 3), whole.slice(3, 5), whole.slice(5, 10), whole.slice(10));
    expect(decoded).toEqual({ kind: "frame", frame: { cmd: Cmd.PSH, streamId: 6, payload: bytes("abcdef") } });
  });

  test("several frames in one slice, then a partial one kept for the next slice", () => {
    const next = rawFrame(1, 2, 4, bytes("tail"));
    const decoder = new FrameDecoder(1 << 20);
    decoder.push(concat(rawFrame(1, 0, 4), rawFrame(1, 2, 4, bytes("one")), rawFrame(1, 3, 0), rawFrame(1, 1, 4), next.slice(0, 5)));
    expect(decodeAll(decoder).map((d) => (d.kind === "frame" ? [d.frame.cmd, d.frame.streamId, d.frame.payload.length] : d.kind))).toEqual([
      [Cmd.SYN, 4, 0],
      [Cmd.PSH, 4, 3],
      [Cmd.NOP, 0, 0],
      [Cmd.FIN, 4, 0],
      "need-more",
    ]);
    expect(decoder.buffered).toBe(5);
    decoder.push(next.slice(5));
    expect(decoder.next()).toEqual({ kind: "frame", frame: { cmd: Cmd.PSH, streamId: 4, payload: bytes("tail") } });
  });

  test("accepts the largest payload a peer can send (65 535 bytes), beyond what we send", () => {
    const payload = new Uint8Array(65_535).map((_, i) => i % 251);
    const decoded = decodeOne(rawFrame(1, 2, 2, payload));
    expect(decoded.kind === "frame" && decoded.frame.payload).toEqual(payload);
  });

  test("payloads are copies: reusing the input slice does not change them", () => {
    const input = rawFrame(1, 2, 2, bytes("keep"));
    const decoded = decodeOne(input);
    input.fill(0);
    expect(decoded.kind === "frame" && decoded.frame.payload).toEqual(bytes("keep"));
  });

  test("borrowing: a payload that fills most of its slice's buffer is a view, a small one in a big buffer is a copy", () => {
    const decoder = new FrameDecoder(1 << 20, { borrow: true });
    const big = rawFrame(1, 2, 2, new Uint8Array(1000).fill(7));
    decoder.push(big);
    const view = decoder.next();
    expect(view.kind === "frame" && view.frame.payload.buffer).toBe(big.buffer);
    expect(view.kind === "frame" && view.frame.payload).toEqual(new Uint8Array(1000).fill(7));
    // 1 byte of payload among 10 000 bytes of frames: borrowing would pin 10 000 bytes for one.
    const packed = concat(rawFrame(1, 2, 4, bytes("x")), ...Array.from({ length: 1249 }, () => rawFrame(1, 3, 0)));
    decoder.push(packed);
    const small = decoder.next();
    expect(small.kind === "frame" && small.frame.payload).toEqual(bytes("x"));
    expect(small.kind === "frame" && small.frame.payload.buffer).not.toBe(packed.buffer);
    for (let i = 0; i < 1249; i++) expect(decoder.next().kind).toBe("frame");
    expect(decoder.next()).toEqual({ kind: "need-more" });
    expect(decoder.buffered).toBe(0);
  });

  test("a payload split across slices is copied even when borrowing", () => {
    const decoder = new FrameDecoder(1 << 20, { borrow: true });
    const frame = rawFrame(1, 2, 2, bytes("split payload"));
    decoder.push(frame.slice(0, 12));
    decoder.push(frame.slice(12));
    const decoded = decoder.next();
    expect(decoded.kind === "frame" && decoded.frame.payload).toEqual(bytes("split payload"));
  });

  test("buffers at most its bound: a push past it is refused and nothing is kept", () => {
    const decoder = new FrameDecoder(20);
    expect(decoder.push(new Uint8Array(12))).toBe(true);
    expect(decoder.push(new Uint8Array(9))).toBe(false);
    expect(decoder.buffered).toBe(12);
    expect(decoder.push(new Uint8Array(8))).toBe(true);
    expect(decoder.buffered).toBe(20);
  });
});
