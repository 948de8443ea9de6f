// What every collector may use to read the system: roots for /proc, /sys and /etc (fixture trees in tests),
// the one way to start a process, and the clock. Never holds state between collections.
import { runProcess } from "../../../exec/run.ts";
import type { RunProcess } from "../../../exec/types.ts";
import { readFileSync } from "node:fs";

export interface CollectorEnv {
  procRoot: string;
  sysRoot: string;
  /** The root of /etc and /var (os-release, dpkg status); "/" on a real host. */
  root: string;
  runProcess: RunProcess;
  /** Epoch ms. */
  now: () => number;
  version: string;
}

export const TOOL_ENV = { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", LANG: "C.UTF-8" };

/** The real host: /proc, /sys and / read as they are, processes started through exec/. */
export function hostCollectorEnv(version: string, now: () => number): CollectorEnv {
  return { procRoot: "/proc", sysRoot: "/sys", root: "/", runProcess, now, version };
}

/** A file's text, trimmed, or "" when it cannot be read (missing, no permission). */
export function readText(path: string): string {
  try {
    return readFileSync(path, "utf8").trim();
  } catch {
    return "";
  }
}
