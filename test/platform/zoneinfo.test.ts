// The local zone from zoneinfo files (src/platform/zoneinfo.ts): offsets from the system's TZif files against
// ICU's (Intl) for zones with half- and quarter-hour offsets, southern-hemisphere and negative DST, from 1975 to
// 2099 (past the last transition a file lists, its footer's POSIX rule decides); POSIX TZ strings at their exact
// changes; where TZ may point, and the fallback to JavaScriptCore's own local time.
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { engineZone, loadZone, parsePosixTz, parseTzif } from "../../src/platform/zoneinfo.ts";

const HOUR = 3600;

/** ICU's offset of `zone` at `ms`, in seconds east of UTC. */
function icuOffset(zone: string, ms: number): number {
  const name = new Intl.DateTimeFormat("en-US", { timeZone: zone, timeZoneName: "longOffset" })
    .formatToParts(new Date(ms))
    .find((p) => p.type === "timeZoneName")!.value; // "GMT", "GMT+05:45", "GMT-03:30"
  const m = /^GMT(?:([+-])(\d{2}):(\d{2}))?$/.exec(name)!;
  return m[1] ? (m[1] === "-" ? -1 : 1) * (Number(m[2]) * HOUR + Number(m[3]) * 60) : 0;
}

// Zones whose rules did not change between tzdata releases of the last years, so the system's files and ICU's
// copy agree: DST north and south, half- and quarter-hour offsets, a half-hour DST, and Dublin's negative DST.
const ZONES = [
  "America/New_York",
  "America/St_Johns",
  "Europe/Berlin",
  "Europe/London",
  "Europe/Dublin",
  "Australia/Sydney",
  "Australia/Lord_Howe",
  "Asia/Kolkata",
  "Asia/Kathmandu",
  "Asia/Seoul",
  "Pacific/Chatham",
  "America/Santiago",
];
const haveZoneinfo = existsSync("/usr/share/zoneinfo/America/New_York");

describe("TZif files against ICU", () => {
  test.skipIf(!haveZoneinfo)("every zone, at instants from 1975 to 2099 and one second either side of each change", () => {
    const from = Date.UTC(1975, 0, 1);
    const to = Date.UTC(2099, 11, 31);
    let seed = 12345;
    const random = () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    let compared = 0;
    let changes = 0;
    for (const name of ZONES) {
      const zone = parseTzif(readFileSync(`/usr/share/zoneinfo/${name}`));
      expect(zone).toBeDefined();
      const instants = Array.from({ length: 400 }, () => from + Math.floor(random() * (to - from)));
      // Walk 2024-2030 (the file's own transitions) and 2040-2043 (past them: the footer's rule) by days, find the
      // changes, then look one second either side of each.
      const days = (a: number, b: number) =>
        Array.from({ length: (Date.UTC(b, 0, 1) - Date.UTC(a, 0, 1)) / 86_400_000 }, (_, i) => Date.UTC(a, 0, 1) + i * 86_400_000);
      for (const ms of [...days(2024, 2031), ...days(2040, 2044)]) {
        if (zone!.offsetSeconds(ms) === zone!.offsetSeconds(ms + 86_400_000)) continue;
        let lo = ms;
        let hi = ms + 86_400_000;
        while (hi - lo > 1000) {
          const mid = lo + Math.floor((hi - lo) / 2000) * 1000;
          if (zone!.offsetSeconds(mid) === zone!.offsetSeconds(ms)) lo = mid;
          else hi = mid;
        }
        instants.push(lo, hi);
        changes++;
      }
      for (const ms of instants) {
        const ours = zone!.offsetSeconds(ms);
        const icu = icuOffset(name, ms);
        if (ours !== icu) throw new Error(`${name} at ${new Date(ms).toISOString()}: ${ours} s, ICU ${icu} s`);
        compared++;
      }
    }
    expect(compared).toBeGreaterThan(ZONES.length * 400);
    expect(changes).toBeGreaterThan(90); // the DST zones changed twice a year
  });

  test.skipIf(!existsSync("/usr/share/zoneinfo/right/UTC"))("a zone that counts leap seconds is left to Date", () => {
    expect(parseTzif(readFileSync("/usr/share/zoneinfo/right/UTC"))).toBeUndefined();
    expect(loadZone({ TZ: "right/UTC" })).toBe(engineZone);
    expect(parseTzif(readFileSync("/usr/share/zoneinfo/UTC"))!.offsetSeconds(Date.UTC(2026, 0, 1))).toBe(0);
  });

  test("malformed or truncated files are refused", () => {
    expect(parseTzif(new TextEncoder().encode("not a TZif file, only text that is long enough to have a header"))).toBeUndefined();
    expect(parseTzif(new Uint8Array(10))).toBeUndefined();
    if (haveZoneinfo) {
      const real = readFileSync("/usr/share/zoneinfo/Europe/Berlin");
      expect(parseTzif(real)).toBeDefined();
      expect(parseTzif(real.subarray(0, real.length >> 1))).toBeUndefined();
    }
  });
});

describe("POSIX TZ strings", () => {
  const at = (iso: string) => Date.parse(iso);

  test("US rules: the changes happen at 02:00 local time, in the time then in effect", () => {
    const ny = parsePosixTz("EST5EDT,M3.2.0,M11.1.0")!;
    expect(ny.offsetSeconds(at("2026-03-08T06:59:59Z"))).toBe(-5 * HOUR);
    expect(ny.offsetSeconds(at("2026-03-08T07:00:00Z"))).toBe(-4 * HOUR);
    expect(ny.offsetSeconds(at("2026-11-01T05:59:59Z"))).toBe(-4 * HOUR);
    expect(ny.offsetSeconds(at("2026-11-01T06:00:00Z"))).toBe(-5 * HOUR);
    // No rule given: the US rules, as glibc does.
    expect(parsePosixTz("EST5EDT")!.offsetSeconds(at("2026-07-01T00:00:00Z"))).toBe(-4 * HOUR);
  });

  test("southern hemisphere: DST over the new year", () => {
    const sydney = parsePosixTz("AEST-10AEDT,M10.1.0,M4.1.0/3")!;
    expect(sydney.offsetSeconds(at("2026-01-01T00:00:00Z"))).toBe(11 * HOUR);
    expect(sydney.offsetSeconds(at("2026-04-04T15:59:59Z"))).toBe(11 * HOUR);
    expect(sydney.offsetSeconds(at("2026-04-04T16:00:00Z"))).toBe(10 * HOUR);
    expect(sydney.offsetSeconds(at("2026-10-03T15:59:59Z"))).toBe(10 * HOUR);
    expect(sydney.offsetSeconds(at("2026-10-03T16:00:00Z"))).toBe(11 * HOUR);
    expect(sydney.offsetSeconds(at("2026-12-31T23:59:59Z"))).toBe(11 * HOUR);
  });

  test("quoted names, minutes, negative DST, all-year DST, Julian days", () => {
    expect(parsePosixTz("<+0545>-5:45")!.offsetSeconds(0)).toBe(5 * HOUR + 45 * 60);
    expect(parsePosixTz("<-03>3")!.offsetSeconds(0)).toBe(-3 * HOUR);
    const dublin = parsePosixTz("IST-1GMT0,M10.5.0,M3.5.0/1")!;
    expect(dublin.offsetSeconds(at("2026-01-15T12:00:00Z"))).toBe(0);
    expect(dublin.offsetSeconds(at("2026-07-15T12:00:00Z"))).toBe(HOUR);
    expect(dublin.offsetSeconds(at("2026-03-29T00:59:59Z"))).toBe(0);
    expect(dublin.offsetSeconds(at("2026-03-29T01:00:00Z"))).toBe(HOUR);
    const always = parsePosixTz("EST5EDT4,0/0,J365/25")!;
    for (const iso of ["2026-01-01T00:00:00Z", "2026-06-01T00:00:00Z", "2026-12-31T23:00:00Z", "2028-02-29T12:00:00Z"]) {
      expect(always.offsetSeconds(at(iso))).toBe(-4 * HOUR);
    }
    // J60 is 1 March in every year (29 February is never counted), 59 counts it: 29 February of a leap year.
    const j = parsePosixTz("XST0XDT,J60/0,J300/0")!;
    expect(j.offsetSeconds(at("2028-02-29T23:59:59Z"))).toBe(0);
    expect(j.offsetSeconds(at("2028-03-01T00:00:00Z"))).toBe(HOUR);
    const n = parsePosixTz("XST0XDT,59/0,300/0")!;
    expect(n.offsetSeconds(at("2028-02-28T23:59:59Z"))).toBe(0);
    expect(n.offsetSeconds(at("2028-02-29T00:00:00Z"))).toBe(HOUR);
  });

  test("malformed strings are refused", () => {
    for (const bad of [
      "",
      "5",
      "EST",
      "E5",
      "EST5EDT,M13.1.0,M11.1.0",
      "EST5EDT,M3.2.0",
      "EST5EDT,M3.6.0,M11.1.0",
      "EST5EDT,M3.2.7,M11.1.0",
      "EST200",
      "EST5EDT,J0,J365",
      "EST5 EDT",
    ]) {
      expect(parsePosixTz(bad)).toBeUndefined();
    }
  });
});

describe("loadZone: where TZ may point", () => {
  /** A reader that records every path and serves the real zoneinfo files. */
  function recorder() {
    const paths: string[] = [];
    return {
      paths,
      read: (path: string) => {
        paths.push(path);
        return readFileSync(path);
      },
    };
  }

  test.skipIf(!haveZoneinfo)("unset: /etc/localtime; a name, ':name' or an absolute path: that zone's file", () => {
    const r = recorder();
    loadZone({}, r.read);
    expect(r.paths).toEqual(["/etc/localtime"]);
    const kolkata = Date.UTC(2026, 0, 1);
    expect(loadZone({ TZ: "Asia/Kolkata" }, r.read).offsetSeconds(kolkata)).toBe(5 * HOUR + 30 * 60);
    expect(loadZone({ TZ: ":Asia/Kathmandu" }, r.read).offsetSeconds(kolkata)).toBe(5 * HOUR + 45 * 60);
    expect(loadZone({ TZ: "/usr/share/zoneinfo/Asia/Seoul" }, r.read).offsetSeconds(kolkata)).toBe(9 * HOUR);
    expect(r.paths.slice(1)).toEqual([
      "/usr/share/zoneinfo/Asia/Kolkata",
      "/usr/share/zoneinfo/Asia/Kathmandu",
      "/usr/share/zoneinfo/Asia/Seoul",
    ]);
  });

  test("empty is UTC; a POSIX string is read as one; a name never leaves the zoneinfo directory", () => {
    const r = recorder();
    expect(loadZone({ TZ: "" }, r.read).offsetSeconds(0)).toBe(0);
    expect(loadZone({ TZ: "<+07>-7" }, r.read).offsetSeconds(0)).toBe(7 * HOUR);
    expect(loadZone({ TZ: "EST5EDT,M3.2.0,M11.1.0" }, r.read).offsetSeconds(Date.UTC(2026, 6, 1))).toBe(-4 * HOUR);
    expect(loadZone({ TZ: "../../../etc/passwd" }, r.read)).toBe(engineZone);
    expect(loadZone({ TZ: "Europe/../../../etc/shadow" }, r.read)).toBe(engineZone);
    expect(r.paths.every((p) => p.startsWith("/usr/share/zoneinfo/") && !p.includes(".."))).toBe(true);
  });

  test("no zone to be had (a name unknown here, an unreadable file): JavaScriptCore's own local time", () => {
    const missing = (path: string): Uint8Array => {
      throw Object.assign(new Error(`ENOENT: ${path}`), { code: "ENOENT" });
    };
    expect(loadZone({}, missing)).toBe(engineZone);
    expect(loadZone({ TZ: "Asia/Seoul" }, missing)).toBe(engineZone);
    expect(loadZone({ TZ: "/nowhere/zone" }, missing)).toBe(engineZone);
    expect(engineZone.offsetSeconds(Date.UTC(2026, 0, 1))).toBe(0 - new Date(Date.UTC(2026, 0, 1)).getTimezoneOffset() * 60);
  });
});
