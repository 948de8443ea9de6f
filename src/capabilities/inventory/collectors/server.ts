// The `server` key: agent version and the 1-minute load average from /proc/loadavg.
// Pure parser plus a one-file reader; never spawns a process.
import type { ServerData } from "../types.ts";
import { readText, type CollectorEnv } from "./env.ts";

/** The first field of /proc/loadavg; 0 when the text is not a load line. */
export function parseLoadavg(text: string): number {
  const value = Number(text.trim().split(/\s+/)[0]);
  return Number.isFinite(value) ? value : 0;
}

export function collectServer(env: CollectorEnv): ServerData {
  return { version: env.version, load: parseLoadavg(readText(`${env.procRoot}/loadavg`)) };
}
