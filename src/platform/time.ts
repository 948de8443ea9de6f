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
