// Gives the kernel back the agent's own executable pages that nothing uses any more. A compiled Bun binary is
// about 110 MB, and startup (module loading, the first inventory, TLS and SQLite setup) touches some 45 MB of
// its code and read-only data; the idle agent needs perhaps a quarter of that again. Those pages are clean and
// file-backed, so madvise(MADV_PAGEOUT) can drop them at no risk: a page that is needed later is read back
// from the file. Pages shared with another process (a second alpamon) are left alone by the kernel.
// Linux 5.4 or later; elsewhere the call fails once and the part stops trying. Each round starts with a full
// garbage collection: startup leaves garbage that an idle heap would otherwise carry for a long time (about
// 0.4 MB of RssAnon, for a few milliseconds of CPU every 10 minutes).
import { readFileSync, readlinkSync } from "node:fs";
import type { Part } from "./lifecycle.ts";
import type { Logger } from "../log/logger.ts";
import type { Clock } from "./clock.ts";
import { libc, MADV_PAGEOUT } from "./libc.ts";

/**
 * After startup has settled, then every 10 minutes: code touched by rare work (roll-ups, inventory, commands)
 * goes back too. Each round costs the idle agent a few dozen reads of its hot pages, a few milliseconds.
 */
export const PAGE_OUT_FIRST_MS = 60_000;
export const PAGE_OUT_EVERY_MS = 10 * 60_000;

/** A type alias, not an interface, so it can be passed as log fields. */
export type PageOutResult = {
  /** Read-only mappings of the executable that were advised. */
  ranges: number;
  bytes: number;
};

/** The read-only (r-x and r--) mappings of the running executable, from /proc/self/maps. */
export function executableRanges(
  maps = readFileSync("/proc/self/maps", "utf8"),
  exe = readlinkSync("/proc/self/exe"),
): { start: bigint; end: bigint }[] {
  const ranges: { start: bigint; end: bigint }[] = [];
  for (const line of maps.split("\n")) {
    // "start-end perms offset dev inode   path": the path may hold spaces (" (deleted)" after an upgrade).
    const match = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) \S+ \S+ \S+\s+(.*)$/.exec(line);
    if (!match || match[4] !== exe || match[3]![1] === "w") continue;
    ranges.push({ start: BigInt(`0x${match[1]}`), end: BigInt(`0x${match[2]}`) });
  }
  return ranges;
}

/** Advises the kernel to reclaim the executable's read-only pages now. Throws when madvise is refused. */
export function pageOutExecutable(): PageOutResult {
  const c = libc();
  if (!c) throw new Error("libc is not available");
  let bytes = 0n;
  const ranges = executableRanges();
  for (const { start, end } of ranges) {
    if (c.madvise(start, end - start, MADV_PAGEOUT) !== 0)
      throw new Error("madvise(MADV_PAGEOUT) was refused (Linux 5.4 or later is needed)");
    bytes += end - start;
  }
  return { ranges: ranges.length, bytes: Number(bytes) };
}

/** The agent part that collects garbage and pages the executable out after startup, then every PAGE_OUT_EVERY_MS. */
export function pageOutPart(
  log: Logger,
  clock: Clock,
  run: () => PageOutResult = pageOutExecutable,
  collect: () => void = () => Bun.gc(true),
): Part {
  let stop: AbortController | undefined;
  async function loop(signal: AbortSignal): Promise<void> {
    let wait = PAGE_OUT_FIRST_MS;
    for (;;) {
      try {
        await clock.sleep(wait, signal);
      } catch {
        return; // stopped
      }
      collect();
      try {
        log.debug("paged out the executable's idle pages", run());
      } catch (err) {
        log.debug("cannot page out the executable; not trying again", { error: err instanceof Error ? err.message : String(err) });
        return;
      }
      wait = PAGE_OUT_EVERY_MS;
    }
  }
  return {
    name: "page-out",
    start() {
      stop = new AbortController();
      void loop(stop.signal);
    },
    stop() {
      stop?.abort();
    },
  };
}
