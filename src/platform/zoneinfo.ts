// The local time zone from the system's zoneinfo files (TZif, RFC 8536), as the C library and the reference
// agent read it, instead of JavaScriptCore's local-time Date methods: their first call loads ICU's time-zone
// machinery, about 1 MB of memory an idle agent would keep for its timestamps alone (BENCHMARKS.md, "Round 5").
// Where the zone comes from: TZ unset → /etc/localtime; TZ empty → UTC; TZ=":x" is read as "x"; an absolute
// path is that file; a name is /usr/share/zoneinfo/<name> (never outside it); anything else may be a POSIX TZ
// string ("EST5EDT,M3.2.0,M11.1.0"). When none of that gives a zone (no zoneinfo installed, an unknown name), the
// offsets come from JavaScriptCore's Date after all: the same answer as before, at the old cost.
import { readFileSync } from "node:fs";

/** Seconds east of UTC in effect at an instant. */
export interface Zone {
  offsetSeconds(epochMs: number): number;
}

const ZONEINFO_DIR = "/usr/share/zoneinfo";

/** JavaScriptCore's own local time (ICU): the fallback. */
export const engineZone: Zone = { offsetSeconds: (epochMs) => 0 - new Date(epochMs).getTimezoneOffset() * 60 };

const utc: Zone = { offsetSeconds: () => 0 };

/** The zone the environment names, read once by the caller; `read` returns a file's bytes or throws. */
export function loadZone(env: Record<string, string | undefined> = process.env, read: (path: string) => Uint8Array = readFileSync): Zone {
  const tz = env.TZ;
  if (tz === "") return utc;
  const fromFile = (path: string): Zone | undefined => {
    try {
      return parseTzif(read(path));
    } catch {
      return undefined;
    }
  };
  if (tz === undefined) return fromFile("/etc/localtime") ?? engineZone;
  const name = tz.startsWith(":") ? tz.slice(1) : tz;
  if (name.startsWith("/")) return fromFile(name) ?? engineZone;
  if (/^[A-Za-z0-9._+-]+(\/[A-Za-z0-9._+-]+)*$/.test(name) && !name.split("/").includes("..")) {
    const zone = fromFile(`${ZONEINFO_DIR}/${name}`);
    if (zone) return zone;
  }
  return parsePosixTz(name) ?? engineZone;
}

type TimeType = { utoff: number };

/**
 * A TZif file (versions 1-4): its transitions, and after the last one the footer's rule. Undefined if malformed,
 * or if it counts leap seconds.
 */
export function parseTzif(data: Uint8Array): Zone | undefined {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const header = (at: number) => {
    if (at + 44 > data.length || view.getUint32(at) !== 0x545a6966) return undefined; // "TZif"
    const [isut, isstd, leap, time, type, chars] = [20, 24, 28, 32, 36, 40].map((o) => view.getUint32(at + o)) as [
      number,
      number,
      number,
      number,
      number,
      number,
    ];
    return { version: data[at + 4]!, isut, isstd, leap, time, type, chars };
  };
  const first = header(0);
  if (!first || first.type === 0) return undefined;
  const blockLength = (h: NonNullable<typeof first>, timeSize: number) =>
    h.time * timeSize + h.time + h.type * 6 + h.chars + h.leap * (timeSize + 4) + h.isstd + h.isut;
  let at = 0;
  let h = first;
  let timeSize = 4;
  if (first.version >= 0x32) {
    at = 44 + blockLength(first, 4);
    const second = header(at);
    if (!second || second.type === 0) return undefined;
    h = second;
    timeSize = 8;
  }
  // A zone with leap seconds (the "right/" zones) counts its transitions in another time scale: leave it to Date.
  if (h.leap > 0) return undefined;
  const body = at + 44;
  const end = body + blockLength(h, timeSize);
  if (end > data.length) return undefined;
  const times: number[] = [];
  for (let i = 0; i < h.time; i++) {
    times.push(timeSize === 8 ? Number(view.getBigInt64(body + i * 8)) : view.getInt32(body + i * 4));
  }
  const indexAt = body + h.time * timeSize;
  const typesAt = indexAt + h.time;
  const types: TimeType[] = [];
  for (let i = 0; i < h.type; i++) types.push({ utoff: view.getInt32(typesAt + i * 6) });
  const indices = Array.from(data.subarray(indexAt, indexAt + h.time));
  if (indices.some((i) => i >= types.length)) return undefined;
  let footer: Zone | undefined;
  if (timeSize === 8 && data[end] === 0x0a) {
    const close = data.indexOf(0x0a, end + 1);
    const text = close > end ? new TextDecoder().decode(data.subarray(end + 1, close)) : "";
    if (text) footer = parsePosixTz(text);
  }
  const last = times.length ? types[indices[indices.length - 1]!]!.utoff : types[0]!.utoff;
  return {
    offsetSeconds(epochMs) {
      const t = Math.floor(epochMs / 1000);
      if (times.length === 0 || t < times[0]!) return times.length === 0 && footer ? footer.offsetSeconds(epochMs) : types[0]!.utoff;
      if (t >= times[times.length - 1]!) return footer ? footer.offsetSeconds(epochMs) : last;
      let lo = 0;
      let hi = times.length - 1; // times[lo] <= t < times[hi]
      while (hi - lo > 1) {
        const mid = (lo + hi) >>> 1;
        if (times[mid]! <= t) lo = mid;
        else hi = mid;
      }
      return types[indices[lo]!]!.utoff;
    },
  };
}

type Rule = { kind: "J" | "n" | "M"; a: number; b: number; c: number; time: number };

/**
 * A POSIX TZ string (as in a TZif footer): "std offset [dst [offset] [,start[/time],end[/time]]]". Offsets are
 * west-positive, as POSIX writes them. Undefined if malformed.
 */
export function parsePosixTz(text: string): Zone | undefined {
  let pos = 0;
  const name = (): boolean => {
    const m = /^(?:<[A-Za-z0-9+-]{3,}>|[A-Za-z]{3,})/.exec(text.slice(pos));
    if (!m) return false;
    pos += m[0].length;
    return true;
  };
  /** [+-]hh[:mm[:ss]] in seconds; hours up to 167 (RFC 8536's extension). */
  const duration = (): number | undefined => {
    const m = /^([+-]?)(\d{1,3})(?::(\d{2}))?(?::(\d{2}))?/.exec(text.slice(pos));
    if (!m || Number(m[2]) > 167 || Number(m[3] ?? 0) > 59 || Number(m[4] ?? 0) > 59) return undefined;
    pos += m[0].length;
    const seconds = Number(m[2]) * 3600 + Number(m[3] ?? 0) * 60 + Number(m[4] ?? 0);
    return m[1] === "-" ? -seconds : seconds;
  };
  const rule = (): Rule | undefined => {
    const rest = text.slice(pos);
    const month = /^M(\d{1,2})\.(\d)\.(\d)/.exec(rest);
    const julian = /^J(\d{1,3})/.exec(rest);
    const zeroBased = /^(\d{1,3})/.exec(rest);
    const m = month ?? julian ?? zeroBased;
    if (!m) return undefined;
    let r: Rule;
    if (month) {
      const [mon, week, day] = [Number(month[1]), Number(month[2]), Number(month[3])];
      if (mon < 1 || mon > 12 || week < 1 || week > 5 || day > 6) return undefined;
      r = { kind: "M", a: mon, b: week, c: day, time: 7200 };
    } else if (julian) {
      const n = Number(julian[1]);
      if (n < 1 || n > 365) return undefined;
      r = { kind: "J", a: n, b: 0, c: 0, time: 7200 };
    } else {
      const n = Number(m[1]);
      if (n > 365) return undefined;
      r = { kind: "n", a: n, b: 0, c: 0, time: 7200 };
    }
    pos += m[0].length;
    if (text[pos] === "/") {
      pos++;
      const time = duration();
      if (time === undefined) return undefined;
      r.time = time;
    }
    return r;
  };

  if (!name()) return undefined;
  const stdWest = duration();
  if (stdWest === undefined) return undefined;
  const std = 0 - stdWest;
  if (pos === text.length) return { offsetSeconds: () => std };
  if (!name()) return undefined;
  let dst = std + 3600;
  if (pos < text.length && text[pos] !== ",") {
    const dstWest = duration();
    if (dstWest === undefined) return undefined;
    dst = 0 - dstWest;
  }
  // No rule given: POSIX leaves it to the implementation; glibc uses the US rules.
  let start: Rule | undefined = { kind: "M", a: 3, b: 2, c: 0, time: 7200 };
  let end: Rule | undefined = { kind: "M", a: 11, b: 1, c: 0, time: 7200 };
  if (pos < text.length) {
    if (text[pos] !== ",") return undefined;
    pos++;
    start = rule();
    if (!start || text[pos] !== ",") return undefined;
    pos++;
    end = rule();
    if (!end || pos !== text.length) return undefined;
  }
  const [from, to] = [start, end];
  return {
    offsetSeconds(epochMs) {
      const t = Math.floor(epochMs / 1000);
      const year = new Date(epochMs).getUTCFullYear();
      // The last change at or before t, among the years around it: whichever hemisphere, the answer.
      let best = Number.NEGATIVE_INFINITY;
      let offset = std;
      for (let y = year - 1; y <= year + 1; y++) {
        const on = ruleDay(y, from) + from.time - std; // the change to DST happens in standard time
        const off = ruleDay(y, to) + to.time - dst; // and back, in DST
        // A tie goes to DST: an end at the same instant as the next start (",0/0,J365/25") is DST all year.
        if (off <= t && off > best) [best, offset] = [off, std];
        if (on <= t && on >= best) [best, offset] = [on, dst];
      }
      return offset;
    },
  };
}

/** Seconds from the epoch to 00:00 UTC of the rule's day in `year`. */
function ruleDay(year: number, r: Rule): number {
  const jan1 = Date.UTC(year, 0, 1) / 1000;
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  if (r.kind === "J") return jan1 + (r.a - 1 + (leap && r.a >= 60 ? 1 : 0)) * 86400;
  if (r.kind === "n") return jan1 + r.a * 86400;
  const first = new Date(Date.UTC(year, r.a - 1, 1)).getUTCDay();
  const days = new Date(Date.UTC(year, r.a, 0)).getUTCDate();
  let day = 1 + ((r.c - first + 7) % 7) + (r.b - 1) * 7;
  while (day > days) day -= 7;
  return Date.UTC(year, r.a - 1, day) / 1000;
}
