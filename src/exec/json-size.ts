// How many bytes output costs once it is decoded as UTF-8 (invalid bytes become U+FFFD) and written as a
// JSON string: a fin carries the output in JSON, where a NUL byte is the six characters \u0000. Counting that
// size while reading lets a runner stop keeping output as soon as its fin would be full. Pure; no I/O.

/** The JSON-escaped size of one code point as UTF-8 (JSON.stringify's escapes; the quotes not counted). */
function codePointCost(cp: number): number {
  if (cp < 0x20) return cp === 8 || cp === 9 || cp === 10 || cp === 12 || cp === 13 ? 2 : 6;
  if (cp === 0x22 || cp === 0x5c) return 2;
  if (cp < 0x80) return 1;
  if (cp < 0x800) return 2;
  return cp < 0x10000 ? 3 : 4;
}

/** U+FFFD, what an invalid sequence decodes to: three bytes of UTF-8. */
const REPLACEMENT_COST = 3;

/**
 * Follows the WHATWG UTF-8 decoder (what TextDecoder does) byte by byte and adds up the JSON-escaped size of
 * what it yields, up to a budget. A sequence still open when the bytes stop is charged as the U+FFFD the
 * decoder would end it with, so every prefix this accepts decodes to text within the budget.
 */
export class JsonTextBudget {
  /** The escaped size of everything accepted so far, an open sequence counted as U+FFFD. */
  private used = 0;
  private needed = 0;
  private seen = 0;
  private codePoint = 0;
  private lower = 0x80;
  private upper = 0xbf;
  private full = false;

  constructor(private readonly budget: number) {}

  /** True once a byte did not fit: nothing more is accepted. */
  get exhausted(): boolean {
    return this.full;
  }

  /** The escaped size of what was accepted. */
  get size(): number {
    return this.used;
  }

  /** Accepts the longest prefix of `bytes` that keeps the total within the budget; returns its length. */
  take(bytes: Uint8Array): number {
    if (this.full) return 0;
    for (let i = 0; i < bytes.length; i++) {
      if (!this.step(bytes[i]!)) {
        this.full = true;
        return i;
      }
    }
    return bytes.length;
  }

  /** One byte; false (and nothing changed) when it would go over the budget. */
  private step(byte: number): boolean {
    const continues = this.needed > 0 && byte >= this.lower && byte <= this.upper;
    if (!continues) {
      // A byte that breaks an open sequence ends it as U+FFFD (already charged) and starts afresh.
      if (this.used + leadCost(byte) > this.budget) return false;
      this.reset();
      this.begin(byte);
      return true;
    }
    const codePoint = (this.codePoint << 6) | (byte & 0x3f);
    if (this.seen + 1 < this.needed) {
      this.codePoint = codePoint;
      this.seen++;
      this.lower = 0x80;
      this.upper = 0xbf;
      return true;
    }
    const used = this.used - REPLACEMENT_COST + codePointCost(codePoint);
    if (used > this.budget) return false;
    this.used = used;
    this.reset();
    return true;
  }

  private begin(byte: number): void {
    this.used += leadCost(byte);
    if (byte < 0xc2 || byte > 0xf4) return;
    this.needed = byte <= 0xdf ? 1 : byte <= 0xef ? 2 : 3;
    this.codePoint = byte & (this.needed === 1 ? 0x1f : this.needed === 2 ? 0x0f : 0x07);
    if (byte === 0xe0) this.lower = 0xa0;
    else if (byte === 0xed) this.upper = 0x9f;
    else if (byte === 0xf0) this.lower = 0x90;
    else if (byte === 0xf4) this.upper = 0x8f;
  }

  private reset(): void {
    this.needed = 0;
    this.seen = 0;
    this.codePoint = 0;
    this.lower = 0x80;
    this.upper = 0xbf;
  }
}

/** What a byte costs when it starts a character: ASCII its escape; a lead byte U+FFFD until it completes. */
function leadCost(byte: number): number {
  return byte <= 0x7f ? codePointCost(byte) : REPLACEMENT_COST;
}

/**
 * The JSON-escaped size of the UTF-16 unit at `i`: a surrogate pair's first half counts 4 and its second 0;
 * a lone surrogate counts 6 (JSON.stringify writes \udXXX).
 */
function unitCost(text: string, i: number): number {
  const c = text.charCodeAt(i);
  if (c < 0xd800 || c > 0xdfff) return codePointCost(c);
  if (c <= 0xdbff) {
    const next = text.charCodeAt(i + 1); // NaN past the end
    return next >= 0xdc00 && next <= 0xdfff ? 4 : 6;
  }
  const prev = i > 0 ? text.charCodeAt(i - 1) : 0;
  return prev >= 0xd800 && prev <= 0xdbff ? 0 : 6;
}

/** The size of `JSON.stringify(text)` in UTF-8 bytes, without the two quotes. Never allocates. */
export function jsonStringSize(text: string): number {
  let size = 0;
  for (let i = 0; i < text.length; i++) size += unitCost(text, i);
  return size;
}

/** The longest prefix of `text` (never half a surrogate pair) whose JSON-escaped size is at most `budget`. */
export function jsonPrefixEnd(text: string, budget: number): number {
  let size = 0;
  for (let i = 0; i < text.length; i++) {
    const cost = unitCost(text, i);
    if (size + cost > budget) return i;
    size += cost;
  }
  return text.length;
}
