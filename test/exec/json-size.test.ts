// The escaped-size accounting of fins checked against the real thing: TextDecoder then JSON.stringify.
import { describe, expect, test } from "bun:test";
import { jsonPrefixEnd, jsonStringSize, JsonTextBudget } from "../../src/exec/json-size.ts";

const escapedSize = (bytes: Uint8Array) => Buffer.byteLength(JSON.stringify(new TextDecoder().decode(bytes))) - 2;

function seeded(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 2 ** 32;
  };
}

/** Random bytes, valid UTF-8 of every length, sequences cut short, control bytes and quotes, mixed. */
function sample(random: () => number, length: number): Uint8Array {
  const pieces = ["é", "한", "😀", "\u2028", '"', "\\", "\n", "\t", "\0", "\x1b", "a", "\x7f"].map((s) => Buffer.from(s));
  const out: number[] = [];
  while (out.length < length) {
    const r = random();
    if (r < 0.4) out.push(Math.floor(random() * 256));
    else if (r < 0.5) out.push(...[0xe0, 0xed, 0xf0, 0xf4, 0xc2, 0x80, 0xbf, 0xa0, 0x90].slice(Math.floor(random() * 9)).slice(0, 2));
    else {
      const piece = pieces[Math.floor(random() * pieces.length)]!;
      out.push(...(random() < 0.1 ? piece.subarray(0, Math.max(1, piece.length - 1)) : piece));
    }
  }
  return Uint8Array.from(out.slice(0, length));
}

describe("JsonTextBudget", () => {
  test("without a limit it counts exactly what TextDecoder and JSON.stringify make of the bytes", () => {
    const random = seeded(7);
    for (let n = 0; n < 300; n++) {
      const bytes = sample(random, 1 + Math.floor(random() * 200));
      const budget = new JsonTextBudget(Number.POSITIVE_INFINITY);
      expect(budget.take(bytes)).toBe(bytes.length);
      expect(budget.size).toBe(escapedSize(bytes));
    }
  });

  test("with a limit it keeps a prefix whose decoded, escaped text fits, and stops close to the limit", () => {
    const random = seeded(11);
    for (let n = 0; n < 300; n++) {
      const bytes = sample(random, 50 + Math.floor(random() * 200));
      const limit = Math.floor(random() * escapedSize(bytes));
      const budget = new JsonTextBudget(limit);
      let kept = 0;
      for (let at = 0; at < bytes.length; at += 7) kept += budget.take(bytes.subarray(at, at + 7)); // chunked like a pipe
      expect(budget.exhausted).toBe(kept < bytes.length);
      expect(escapedSize(bytes.subarray(0, kept))).toBe(budget.size);
      expect(budget.size).toBeLessThanOrEqual(limit);
      if (kept < bytes.length) expect(budget.size).toBeGreaterThan(limit - 6);
    }
  });

  test("7 MB of NUL bytes costs six bytes each", () => {
    const budget = new JsonTextBudget(8 * 1024 * 1024);
    expect(budget.take(new Uint8Array(7_000_000))).toBe(Math.floor((8 * 1024 * 1024) / 6));
  });
});

describe("jsonStringSize and jsonPrefixEnd", () => {
  test("agree with JSON.stringify, lone surrogates included, and never split a pair", () => {
    const text = 'a"\\\n\0é한😀\ud800x\udc00\u2028\x1f';
    expect(jsonStringSize(text)).toBe(Buffer.byteLength(JSON.stringify(text)) - 2);
    for (let budget = 0; budget <= jsonStringSize(text); budget++) {
      const end = jsonPrefixEnd(text, budget);
      expect(jsonStringSize(text.slice(0, end))).toBeLessThanOrEqual(budget);
      expect(text.charCodeAt(end - 1) >= 0xd800 && text.charCodeAt(end - 1) <= 0xdbff && text.charCodeAt(end) >= 0xdc00).toBe(false);
    }
  });
});
