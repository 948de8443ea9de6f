// The `time` key: local RFC 3339 time, the zone abbreviation (as the reference sends it), uptime and boot
// time. One short `date +%Z` for the abbreviation (Intl only knows "GMT+9" for KST); never a shell.
import { formatLocalRfc3339Seconds } from "../../../platform/time.ts";
import type { TimeData } from "../types.ts";
import { TOOL_ENV, readText, type CollectorEnv } from "./env.ts";

/** Seconds since boot from /proc/uptime, with its fraction. */
export function parseUptime(text: string): number {
  const value = Number(text.trim().split(/\s+/)[0]);
  return Number.isFinite(value) && value >= 0 ? value : 0;
}

/** `uptime` keeps its fraction here so boot_time does not wobble by a second between two reads. */
export function timeData(nowMs: number, uptime: number, timezone: string): TimeData {
  return {
    datetime: formatLocalRfc3339Seconds(nowMs),
    timezone,
    uptime: Math.floor(uptime),
    boot_time: Math.max(0, Math.round(nowMs / 1000 - uptime)),
  };
}

/** The abbreviation Intl gives when `date` cannot run ("UTC", or "GMT+9"). */
function intlAbbreviation(nowMs: number): string {
  const part = new Intl.DateTimeFormat("en-US", { timeZoneName: "short" })
    .formatToParts(new Date(nowMs))
    .find((p) => p.type === "timeZoneName");
  return part?.value ?? "UTC";
}

export async function collectTime(env: CollectorEnv): Promise<TimeData> {
  const now = env.now();
  const tz = process.env.TZ;
  const result = await env.runProcess({
    argv: ["date", "+%Z"],
    env: { ...TOOL_ENV, ...(tz ? { TZ: tz } : {}) },
    timeoutMs: 5_000,
    maxOutputBytes: 256,
  });
  const abbreviation =
    result.exitCode === 0 && /^[A-Za-z0-9+-]{1,16}$/.test(result.output.trim()) ? result.output.trim() : intlAbbreviation(now);
  return timeData(now, parseUptime(readText(`${env.procRoot}/uptime`)), abbreviation);
}
