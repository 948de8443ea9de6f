// The chunk cutter of streamed output (upstream-2026.md §2.3): 4096-byte chunks on UTF-8 boundaries, a flush
// every 100 ms that never splits a sequence (an incomplete tail waits for the next read), invalid bytes as
// U+FFFD, backpressure passed on to the reader, and the fin's audit copy.
import { describe, expect, test } from "bun:test";
import type { ChunkSink } from "../../../src/commands/chunks.ts";
import { AuditCopy, OutputStream } from "../../../src/capabilities/shell/stream.ts";

function sink(wait?: () => Promise<void> | undefined): ChunkSink & { sent: string[] } {
  const sent: string[] = [];
  return {
    sent,
    send(content) {
      sent.push(content);
      return wait?.();
    },
    accepted: () => true,
  };
}

describe("OutputStream", () => {
  test("cuts 4096-byte chunks, never inside a character", async () => {
    const s = sink();
    const stream = new OutputStream(s);
    const text = `ab${"€".repeat(5000)}`; // 3-byte characters after two bytes: byte 4096 falls inside one
    stream.write(Buffer.from(text));
    await stream.end();
    for (const c of s.sent) expect(Buffer.byteLength(c)).toBeLessThanOrEqual(4096);
    expect(Buffer.byteLength(s.sent[0]!)).toBe(4094);
    expect(s.sent.join("")).toBe(text);
  });

  test("a flush carries an incomplete sequence into the next chunk; invalid bytes become U+FFFD", async () => {
    const s = sink();
    const stream = new OutputStream(s);
    const emoji = Buffer.from("😀");
    stream.write(Buffer.concat([Buffer.from("x"), emoji.subarray(0, 2)]));
    // The 100 ms flush sends what is complete; the emoji's first two bytes wait for the rest.
    const deadline = Date.now() + 5_000;
    while (s.sent.length === 0 && Date.now() < deadline) await Bun.sleep(10);
    expect(s.sent).toEqual(["x"]);
    stream.write(Buffer.concat([emoji.subarray(2), Buffer.from([0xff]), Buffer.from("y")]));
    stream.write(Buffer.from([0xe2, 0x82])); // cut short at the end
    await stream.end();
    expect(s.sent.join("")).toBe("x😀\uFFFDy\uFFFD");
    expect(s.sent[1]).toBe("😀\uFFFDy\uFFFD");
  });

  test("a send that waits holds the writer back, and the order is kept", async () => {
    let release!: () => void;
    let waits = 0;
    const s = sink(() => {
      if (waits++ > 0) return undefined;
      return new Promise<void>((resolve) => (release = resolve));
    });
    const stream = new OutputStream(s);
    const first = stream.write(Buffer.from("a".repeat(4096 * 2)));
    expect(first).toBeInstanceOf(Promise);
    const second = stream.write(Buffer.from("b"));
    expect(second).toBeInstanceOf(Promise);
    expect(s.sent.length).toBe(1);
    release();
    await first;
    await second;
    await stream.end();
    expect(s.sent.join("")).toBe(`${"a".repeat(8192)}b`);
  });
});

/** A deterministic pseudo-random source, so a failure can be replayed. */
function lcg(seed: number): () => number {
  let x = seed;
  return () => {
    x = (x * 1103515245 + 12345) % 2 ** 31;
    return x / 2 ** 31;
  };
}

describe("OutputStream on arbitrary reads", () => {
  test("valid and invalid UTF-8 cut at random places comes out as one streaming TextDecoder gives it", async () => {
    const random = lcg(7);
    const alphabet = [
      Buffer.from("a"),
      Buffer.from("é"),
      Buffer.from("€"),
      Buffer.from("😀"),
      Buffer.from([0xff]),
      Buffer.from([0xe2, 0x82]),
      Buffer.from([0x80]),
    ];
    for (let round = 0; round < 50; round++) {
      const parts: Buffer[] = [];
      // Mostly valid text, now and then an invalid or truncated sequence.
      for (let i = 0; i < 3000; i++) parts.push(alphabet[random() < 0.97 ? Math.floor(random() * 4) : 4 + Math.floor(random() * 3)]!);
      const all = Buffer.concat(parts);
      const s = sink();
      const stream = new OutputStream(s);
      for (let at = 0; at < all.length; ) {
        const n = 1 + Math.floor(random() * 700);
        stream.write(all.subarray(at, at + n));
        at += n;
      }
      await stream.end();
      expect(s.sent.join("")).toBe(new TextDecoder().decode(all));
      for (const c of s.sent) expect(Buffer.byteLength(c)).toBeLessThanOrEqual(4096);
    }
  });
});

describe("AuditCopy", () => {
  test("the ends are those of the whole output, whatever the piece sizes", () => {
    const random = lcg(11);
    for (const half of [8, 64, 1000]) {
      const copy = new AuditCopy(half);
      let all = "";
      for (let i = 0; i < 300; i++) {
        const piece = "abcdefghijklmnopqrstuvwxyz0123456789"
          .repeat(1 + Math.floor(random() * 60))
          .slice(0, 1 + Math.floor(random() * 3 * half));
        all += piece;
        copy.add(Buffer.from(piece));
      }
      const truncated = all.length - 2 * half;
      expect(copy.text()).toBe(`${all.slice(0, half)}\n... [${truncated} bytes truncated] ...\n${all.slice(-half)}`);
    }
  });

  test("keeps everything up to twice the half, then the ends and the marker", () => {
    const small = new AuditCopy(8);
    small.add(Buffer.from("0123456789abcdef"));
    expect(small.text()).toBe("0123456789abcdef");
    const big = new AuditCopy(8);
    for (const piece of ["0123", "4567", "89ab", "cdef", "ghij", "klmn"]) big.add(Buffer.from(piece));
    expect(big.text()).toBe("01234567\n... [8 bytes truncated] ...\nghijklmn");
  });

  test("never splits a character at either end", () => {
    const copy = new AuditCopy(8);
    copy.add(Buffer.from(`abcdef${"€".repeat(10)}gh`)); // head ends inside a €, tail starts inside one
    const text = copy.text();
    const [head, tail] = text.split(/\n\.\.\. \[\d+ bytes truncated\] \.\.\.\n/);
    expect(head).toBe("abcdef");
    expect(tail).toBe("€€gh");
    expect(text).not.toContain("\uFFFD");
    expect(text).toContain("[24 bytes truncated]");
  });
});
