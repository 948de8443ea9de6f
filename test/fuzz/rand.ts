// Deterministic random inputs for the fuzz tests: a seeded PRNG (mulberry32) and generators of hostile
// strings, JSON values and byte mutations. Never uses Math.random, so every failure replays from its seed.

export class Rand {
  private state: number;
  constructor(readonly seed: number) {
    this.state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)]!;
  }
}

/** Fragments that break naive parsers: separators, quotes, shell and nft grammar, escapes, unicode. */
export const NASTY = [
  "",
  " ",
  ";",
  "; ",
  "&&",
  "||",
  "|",
  "&",
  ">",
  "<",
  "`",
  "$(",
  ")",
  "{",
  "}",
  "(",
  "[",
  "]",
  '"',
  "'",
  "\\",
  "\n",
  "\r\n",
  "\t",
  "\0",
  "\u0007",
  "#",
  "=",
  ":",
  "..",
  "../",
  "/",
  "~",
  "~root",
  "$HOME",
  // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell-expansion lookalike is deliberate fuzz input
  "${PATH}",
  "$",
  "*",
  "%s",
  "%n",
  "\u202e",
  "\ud800",
  "é",
  "日本",
  "🙂",
  "\uffff",
  "-",
  "--",
  "-rf",
  "0",
  "-1",
  "1e309",
  "NaN",
  "null",
  "true",
  "__proto__",
  "constructor",
  "prototype",
  "; flush ruleset",
  '" ; add table ip pwned ; "',
  "x".repeat(300),
  "A".repeat(70_000),
];

export function nastyString(r: Rand, maxParts = 6): string {
  const parts: string[] = [];
  const n = r.int(0, maxParts);
  for (let i = 0; i < n; i++) {
    if (r.chance(0.6)) parts.push(r.pick(NASTY));
    else parts.push(randomText(r, r.int(0, 12)));
  }
  return parts.join(r.chance(0.5) ? "" : " ");
}

export function randomText(r: Rand, length: number): string {
  let s = "";
  for (let i = 0; i < length; i++) {
    const k = r.next();
    s +=
      k < 0.7
        ? String.fromCharCode(r.int(0x20, 0x7e))
        : k < 0.85
          ? String.fromCharCode(r.int(0, 0x1f))
          : String.fromCharCode(r.int(0x80, 0xffff));
  }
  return s;
}

/** Any JSON-ish value, nested up to `depth`. */
export function randomValue(r: Rand, depth = 3): unknown {
  const k = r.int(0, depth > 0 ? 9 : 6);
  switch (k) {
    case 0:
      return null;
    case 1:
      return r.chance(0.5);
    case 2:
      return r.pick([0, -1, 1, 65535, 65536, 1.5, 2 ** 53, -(2 ** 31), Number.MAX_SAFE_INTEGER + 2, Number.NaN]);
    case 3:
      return r.int(-100, 70_000);
    case 4:
    case 5:
    case 6:
      return nastyString(r);
    case 7:
      return Array.from({ length: r.int(0, 5) }, () => randomValue(r, depth - 1));
    default:
      return randomObject(r, depth - 1, []);
  }
}

export function randomObject(r: Rand, depth: number, keys: readonly string[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const n = r.int(0, keys.length + 2);
  for (let i = 0; i < n; i++) {
    const key = keys.length > 0 && r.chance(0.85) ? r.pick(keys) : nastyString(r, 2);
    out[key] = randomValue(r, depth);
  }
  return out;
}

/** Byte-level mutation of a text: flips, inserts, deletes, duplicates and truncations. */
export function mutate(r: Rand, text: string): string {
  let s = text;
  const rounds = r.int(1, 6);
  for (let i = 0; i < rounds; i++) {
    const at = r.int(0, s.length);
    switch (r.int(0, 6)) {
      case 0:
        s = s.slice(0, at) + r.pick(NASTY) + s.slice(at);
        break;
      case 1:
        s = s.slice(0, at) + s.slice(at + r.int(1, 20));
        break;
      case 2:
        s = s.slice(0, at) + String.fromCharCode(r.int(0, 255)) + s.slice(at + 1);
        break;
      case 3:
        s = s.slice(0, at);
        break;
      case 4: {
        const from = r.int(0, s.length);
        s = s.slice(0, at) + s.slice(from, from + r.int(1, 40)) + s.slice(at);
        break;
      }
      case 5:
        s = s.slice(0, at) + randomText(r, r.int(1, 8)) + s.slice(at);
        break;
      default:
        s = `${s.slice(0, at)}\n${s.slice(at)}`;
        break;
    }
  }
  return s;
}

/** Case counts: the short form in `bun test`, the long form under `bun run fuzz` (ALPAMON_FUZZ_LONG=1). */
export const LONG = process.env.ALPAMON_FUZZ_LONG === "1";
export const SEED = Number(process.env.ALPAMON_FUZZ_SEED ?? 20261126);
