// Time formatting helpers shared by logs and wire messages.

function pad(n: number, width = 2): string {
  return String(Math.trunc(Math.abs(n))).padStart(width, "0");
}

function offsetSuffix(date: Date): string {
  const minutes = -date.getTimezoneOffset();
  if (minutes === 0) return "Z";
  const sign = minutes > 0 ? "+" : "-";
  return `${sign}${pad(minutes / 60)}:${pad(minutes % 60)}`;
}

function localDateTime(date: Date): string {
  return (
    `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
    `T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`
  );
}

/** RFC 3339 in local time with milliseconds, e.g. `2025-10-13T16:43:40.123+09:00`. */
export function formatLocalRfc3339(epochMs: number): string {
  const date = new Date(epochMs);
  return `${localDateTime(date)}.${pad(date.getMilliseconds(), 3)}${offsetSuffix(date)}`;
}

/** RFC 3339 in local time, whole seconds (the reference's `ping` reply), e.g. `2025-10-13T16:43:40+09:00`. */
export function formatLocalRfc3339Seconds(epochMs: number): string {
  const date = new Date(epochMs);
  return `${localDateTime(date)}${offsetSuffix(date)}`;
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
