// CIDR parsing for firewall rules: IPv4 and IPv6 only, host bits cleared, re-serialised in one canonical
// spelling. Never resolves names and never passes anything through that is not a literal address.

export interface Cidr {
  family: 4 | 6;
  /** Canonical text, always with a prefix: "10.0.0.0/8", "2001:db8::/32", "10.0.0.1/32". */
  text: string;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

function parseV4(text: string): bigint | undefined {
  if (!IPV4.test(text)) return undefined;
  return text.split(".").reduce((acc, part) => (acc << 8n) | BigInt(Number(part)), 0n);
}

function parseV6(text: string): bigint | undefined {
  if (!/^[0-9a-fA-F:.]+$/.test(text) || text.length > 45) return undefined;
  let body = text;
  // An embedded IPv4 tail (::ffff:1.2.3.4) is rewritten as the two hex groups it stands for.
  const lastColon = body.lastIndexOf(":");
  if (body.slice(lastColon + 1).includes(".")) {
    const v4 = parseV4(body.slice(lastColon + 1));
    if (v4 === undefined) return undefined;
    body = `${body.slice(0, lastColon + 1)}${(v4 >> 16n).toString(16)}:${(v4 & 0xffffn).toString(16)}`;
  }
  const halves = body.split("::");
  if (halves.length > 2) return undefined;
  const split = (s: string) => (s === "" ? [] : s.split(":"));
  const head = split(halves[0]!);
  const rest = halves.length === 2 ? split(halves[1]!) : [];
  if (![...head, ...rest].every((g) => HEX_GROUP.test(g))) return undefined;
  const groups = [...head.map((g) => parseInt(g, 16))];
  const after = rest.map((g) => parseInt(g, 16));
  const missing = 8 - groups.length - after.length;
  if (halves.length === 2 ? missing < 1 : missing !== 0) return undefined;
  const all = [...groups, ...Array<number>(missing).fill(0), ...after];
  return all.reduce((acc, g) => (acc << 16n) | BigInt(g), 0n);
}

function formatV4(n: bigint): string {
  return [24n, 16n, 8n, 0n].map((s) => String((n >> s) & 0xffn)).join(".");
}

/** RFC 5952: lower case, no leading zeros, the longest run (>= 2) of zero groups as "::". */
function formatV6(n: bigint): string {
  const groups = [...Array(8).keys()].map((i) => Number((n >> BigInt(112 - 16 * i)) & 0xffffn));
  let best = { at: -1, len: 0 };
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > best.len && j - i >= 2) best = { at: i, len: j - i };
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best.at < 0) return hex.join(":");
  return `${hex.slice(0, best.at).join(":")}::${hex.slice(best.at + best.len).join(":")}`;
}

/** Parses "a.b.c.d[/n]" or an IPv6 literal "[/n]"; host bits are cleared. Undefined when it is anything else. */
export function parseCidr(input: string): Cidr | undefined {
  const slash = input.indexOf("/");
  const addr = slash < 0 ? input : input.slice(0, slash);
  const prefixText = slash < 0 ? undefined : input.slice(slash + 1);
  if (prefixText !== undefined && !/^\d{1,3}$/.test(prefixText)) return undefined;
  const v4 = parseV4(addr);
  const family: 4 | 6 | undefined = v4 !== undefined ? 4 : parseV6(addr) !== undefined ? 6 : undefined;
  if (!family) return undefined;
  const bits = family === 4 ? 32 : 128;
  const prefix = prefixText === undefined ? bits : Number(prefixText);
  if (prefix > bits) return undefined;
  const value = family === 4 ? v4! : parseV6(addr)!;
  const mask = prefix === 0 ? 0n : ((1n << BigInt(bits)) - 1n) ^ ((1n << BigInt(bits - prefix)) - 1n);
  const net = value & mask;
  return { family, text: `${family === 4 ? formatV4(net) : formatV6(net)}/${prefix}` };
}

/** True for the "any address" spellings the console sends (empty, 0.0.0.0/0, ::/0). */
export function isAnyAddress(input: string): boolean {
  const t = input.trim();
  return t === "" || t === "0.0.0.0/0" || t === "::/0" || t === "0/0";
}
