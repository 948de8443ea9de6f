// Time formatting helpers shared by logs and wire messages. Local time comes from the system's zoneinfo
// (zoneinfo.ts), read on first use, not from Date's local-time methods: those load ICU's time-zone machinery,
// about 1 MB the idle agent would keep for its log timestamps alone.
import { loadZone, type Zone } from "./zoneinfo.ts";

let zone: Zone | undefined;

function pad(n: number, width = 2): string {
  return String(Math.trunc(Math.abs(n))).padStart(width, "0");
}

/**
 * The local wall-clock fields of an instant (read them with getUTC* from `wall`, the shifted instant), and its
 * offset east of UTC. For every local-time need of the agent and its workers, so all read the same zone.
 */
export function local(epochMs: number): { wall: Date; offsetSeconds: number } {
  zone ??= loadZone();
  const offsetSeconds = zone.offsetSeconds(epochMs);
  return { wall: new Date(epochMs + offsetSeconds * 1000), offsetSeconds };
}

/** An RFC 3339 offset for `offsetSeconds` east of UTC, whole minutes: `Z`, or `+09:00`, `-03:30`. */
export function offsetSuffix(offsetSeconds: number): string {
  const minutes = Math.trunc(offsetSeconds / 60);
  if (minutes === 0) return "Z";
  const sign = minutes > 0 ? "+" : "-";
  return `${sign}${pad(minutes / 60)}:${pad(minutes % 60)}`;
}

function localDateTime(wall: Date): string {
  return (
    `${wall.getUTCFullYear()}-${pad(wall.getUTCMonth() + 1)}-${pad(wall.getUTCDate())}` +
    `T${pad(wall.getUTCHours())}:${pad(wall.getUTCMinutes())}:${pad(wall.getUTCSeconds())}`
  );
}

/** RFC 3339 in local time with milliseconds, e.g. `2025-10-13T16:43:40.123+09:00`. */
export function formatLocalRfc3339(epochMs: number): string {
  const { wall, offsetSeconds } = local(epochMs);
  return `${localDateTime(wall)}.${pad(wall.getUTCMilliseconds(), 3)}${offsetSuffix(offsetSeconds)}`;
}

/** RFC 3339 in local time, whole seconds (the reference's `ping` reply), e.g. `2025-10-13T16:43:40+09:00`. */
export function formatLocalRfc3339Seconds(epochMs: number): string {
  const { wall, offsetSeconds } = local(epochMs);
  return `${localDateTime(wall)}${offsetSuffix(offsetSeconds)}`;
}

/** RFC 3339 in UTC, whole seconds, `Z` suffix (the backhaul's pong), e.g. `2026-08-21T03:04:05Z`. */
export function formatUtcRfc3339Seconds(epochMs: number): string {
  return new Date(epochMs).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/**
 * A duration as Go's time.Duration.String() prints it after truncating to whole seconds, the form upstream's
 * timeout messages use (upstream-2026.md §2.4): `45s`, `2m0s`, `30m0s`, `1h0m0s`, `0s`.
 */
export function goDuration(ms: number): string {
  const total = Math.trunc(ms / 1000);
  if (total === 0) return "0s";
  const sign = total < 0 ? "-" : "";
  const abs = Math.abs(total);
  const hours = Math.floor(abs / 3600);
  const minutes = Math.floor((abs % 3600) / 60);
  const seconds = abs % 60;
  if (hours > 0) return `${sign}${hours}h${minutes}m${seconds}s`;
  if (minutes > 0) return `${sign}${minutes}m${seconds}s`;
  return `${sign}${seconds}s`;
}

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:([Zz])|([+-])(\d{2}):(\d{2}))$/;

/**
 * Epoch ms of an RFC 3339 timestamp with an explicit offset (`Z` or `±hh:mm`, fractions to nanoseconds, as
 * Go and Python's isoformat() write them); undefined for anything else. Independent of the local time zone.
 */
export function parseRfc3339(text: string): number | undefined {
  const m = RFC3339.exec(text);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 60) return undefined;
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (day > daysInMonth) return undefined;
  const offsetHours = m[9] ? Number(m[10]) : 0;
  const offsetMinutes = m[9] ? Number(m[11]) : 0;
  if (offsetHours > 23 || offsetMinutes > 59) return undefined;
  const offset = (m[9] === "-" ? -1 : 1) * (offsetHours * 60 + offsetMinutes) * 60_000;
  const millis = m[7] ? Math.trunc(Number(`0.${m[7]}`) * 1000) : 0;
  return Date.UTC(year, month - 1, day, hour, minute, Math.min(second, 59), millis) - offset;
}
