// Memory of a process as the kernel sees it, for tests that bound what one piece of work may cost the agent.
// The peak comes from VmHWM after resetting it (writing 5 to /proc/<pid>/clear_refs, Linux 4.0+, root), so a
// short spike between two samples is not missed.
import { readFileSync, writeFileSync } from "node:fs";

function statusKb(pid: number, field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!m) throw new Error(`no ${field} in /proc/${pid}/status`);
  return Number(m[1]) * 1024;
}

export const rssOf = (pid: number) => statusKb(pid, "VmRSS");

/** Starts measuring: the current RSS, and the peak from now on. `growth()` is peak minus that start. */
export function watchRss(pid: number): { start: number; growth(): number; peak(): number } {
  writeFileSync(`/proc/${pid}/clear_refs`, "5");
  const start = rssOf(pid);
  const peak = () => statusKb(pid, "VmHWM");
  return { start, peak, growth: () => peak() - start };
}

export const mb = (bytes: number) => (bytes / (1024 * 1024)).toFixed(1);
