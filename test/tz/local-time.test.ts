// ZONE-DEPENDENT: what every time formatter writes, checked against the process's own time zone. Under UTC
// (the default run) a formatter that writes local time labelled `Z` cannot be told from a correct one, so
// test/tz/zone.test.ts runs this file again under TZ=Asia/Seoul (+09:00) and TZ=America/St_Johns (-03:30,
// -02:30 in summer: a half-hour offset with DST). The expected local text comes from Intl, never from the
// getTimezoneOffset arithmetic the code under test uses; for the zones we run under, literals pin it too.
import { describe, expect, test } from "bun:test";
import { formatTime } from "../../src/capabilities/files/ftp-list.ts";
import { dosTime } from "../../src/capabilities/files/zip-write.ts";
import { timeData } from "../../src/capabilities/inventory/collectors/time.ts";
import { formatRecord } from "../../src/log/logger.ts";
import { backupStamp } from "../../src/capabilities/users/users-home.ts";
import { iso } from "../../src/capabilities/metrics/checks/context.ts";
import { formatLocalRfc3339, formatLocalRfc3339Seconds } from "../../src/platform/time.ts";

const ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone;

/** Local wall-clock text and offset of `ms` in this process's zone, as Intl (ICU) computes them. */
function expectedLocal(ms: number): { wall: string; offset: string } {
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone: ZONE,
    year: "numeric",
    month: "2-digit",
    day: "2-digit",
    hour: "2-digit",
    minute: "2-digit",
    second: "2-digit",
    hourCycle: "h23",
    timeZoneName: "longOffset",
  }).formatToParts(new Date(ms));
  const get = (type: string) => parts.find((p) => p.type === type)!.value;
  const gmt = get("timeZoneName"); // "GMT", "GMT+09:00", "GMT-02:30"
  const offset = gmt === "GMT" || gmt === "GMT+00:00" ? "Z" : gmt.slice(3);
  return { wall: `${get("year")}-${get("month")}-${get("day")}T${get("hour")}:${get("minute")}:${get("second")}`, offset };
}

// 2025-10-13T07:43:40.123Z; the St_Johns DST change of 2026-03-08 (02:00 NST -> 03:00 NDT, 05:30Z);
// a UTC midnight; a time before 1970.
const INSTANTS = [
  Date.UTC(2025, 9, 13, 7, 43, 40, 123),
  Date.UTC(2026, 2, 8, 5, 29, 59, 999),
  Date.UTC(2026, 2, 8, 5, 30, 0, 0),
  Date.UTC(2026, 0, 1, 0, 0, 0, 0),
  Date.UTC(1969, 6, 20, 20, 17, 40, 5),
];

/** What the zones this suite runs under must give, written out by hand (ms 2025-10-13T07:43:40.123Z). */
const LITERALS: Record<string, { ms: string; s: string; dstBefore: string; dstAfter: string }> = {
  UTC: { ms: "2025-10-13T07:43:40.123Z", s: "2025-10-13T07:43:40Z", dstBefore: "2026-03-08T05:29:59Z", dstAfter: "2026-03-08T05:30:00Z" },
  "Asia/Seoul": {
    ms: "2025-10-13T16:43:40.123+09:00",
    s: "2025-10-13T16:43:40+09:00",
    dstBefore: "2026-03-08T14:29:59+09:00",
    dstAfter: "2026-03-08T14:30:00+09:00",
  },
  "America/St_Johns": {
    ms: "2025-10-13T05:13:40.123-02:30",
    s: "2025-10-13T05:13:40-02:30",
    dstBefore: "2026-03-08T01:59:59-03:30",
    dstAfter: "2026-03-08T03:00:00-02:30",
  },
};

describe(`local RFC 3339 times (zone ${ZONE})`, () => {
  test("the zone the runner asked for is the zone in effect (a bad TZ falls back to UTC silently)", () => {
    const wanted = process.env.ALPAMON_TEST_ZONE;
    if (wanted) expect(ZONE).toBe(wanted);
    if (wanted && wanted !== "UTC") expect(new Date(INSTANTS[0]!).getTimezoneOffset()).not.toBe(0);
  });

  test("formatLocalRfc3339 and …Seconds: local wall clock with its own offset, naming the same instant", () => {
    for (const ms of INSTANTS) {
      const { wall, offset } = expectedLocal(ms);
      const millis = String(((ms % 1000) + 1000) % 1000).padStart(3, "0");
      expect(formatLocalRfc3339(ms)).toBe(`${wall}.${millis}${offset}`);
      expect(formatLocalRfc3339Seconds(ms)).toBe(`${wall}${offset}`);
      expect(Date.parse(formatLocalRfc3339(ms))).toBe(ms);
      expect(Date.parse(formatLocalRfc3339Seconds(ms))).toBe(Math.floor(ms / 1000) * 1000);
    }
  });

  test("the zones CI runs under give exactly the hand-written text, on both sides of a DST change", () => {
    const literal = LITERALS[ZONE];
    if (!literal) return; // another zone: the Intl comparison above is the check
    expect(formatLocalRfc3339(INSTANTS[0]!)).toBe(literal.ms);
    expect(formatLocalRfc3339Seconds(INSTANTS[0]!)).toBe(literal.s);
    expect(formatLocalRfc3339Seconds(INSTANTS[1]!)).toBe(literal.dstBefore);
    expect(formatLocalRfc3339Seconds(INSTANTS[2]!)).toBe(literal.dstAfter);
  });

  test("a log line starts with the local time; a forwarded record's date and inventory's datetime name the instant", () => {
    const ms = INSTANTS[0]!;
    const line = formatRecord({ time: ms, level: "info", component: "x", message: "m", fields: {} });
    expect(line.slice(0, line.indexOf(" "))).toBe(formatLocalRfc3339(ms));
    expect(Date.parse(line.slice(0, line.indexOf(" ")))).toBe(ms);
    const { wall, offset } = expectedLocal(ms);
    expect(timeData(ms, 10, "X").datetime).toBe(`${wall}${offset}`);
  });

  test("the file manager's mod_time: local time, nanoseconds kept, same instant", () => {
    for (const ms of INSTANTS.filter((t) => t >= 0)) {
      const ns = BigInt(ms) * 1_000_000n + 456_789n;
      const { wall, offset } = expectedLocal(ms);
      const frac = `${String(ms % 1000).padStart(3, "0")}456789`.replace(/0+$/, "");
      expect(formatTime(ns)).toBe(`${wall}.${frac}${offset}`);
      expect(Date.parse(formatTime(ns))).toBe(ms);
    }
  });
});

describe(`zip entry times (zone ${ZONE})`, () => {
  test("an entry's DOS date and time are the local wall clock, to the even second", () => {
    for (const ms of INSTANTS.filter((t) => t >= Date.UTC(1981, 0, 1))) {
      const { time, date } = dosTime(new Date(ms));
      const text = `${(date >> 9) + 1980}-${String((date >> 5) & 15).padStart(2, "0")}-${String(date & 31).padStart(2, "0")}T${String(time >> 11).padStart(2, "0")}:${String((time >> 5) & 63).padStart(2, "0")}:${String((time & 31) * 2).padStart(2, "0")}`;
      const { wall } = expectedLocal(ms);
      const evenSeconds = `${wall.slice(0, 17)}${String(Math.floor(Number(wall.slice(17)) / 2) * 2).padStart(2, "0")}`;
      expect(text).toBe(evenSeconds);
    }
  });
});

describe(`UTC times stay UTC in every zone (zone ${ZONE})`, () => {
  test("metric timestamps and the deleted-home stamp are UTC with Z, whatever TZ says", () => {
    expect(iso(INSTANTS[0]!)).toBe("2025-10-13T07:43:40.123Z");
    expect(iso(Date.UTC(2026, 0, 1))).toBe("2026-01-01T00:00:00.000Z");
    expect(backupStamp(INSTANTS[0]!)).toBe("2025-10-13T07:43:40Z");
  });
});
