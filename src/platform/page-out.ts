// Takes from the agent the executable pages that its idle loop does not use. A compiled Bun binary is about
// 110 MB, and startup (module loading, the first inventory, TLS and SQLite setup) touches some 45 MB of its code
// and read-only data; the idle loop uses less than half of that again. The first round, a minute after start,
// evicts the executable's clean read-only pages (madvise MADV_PAGEOUT): startup's own pages leave the page cache
// too, and the idle loop reads back what it needs once. Later rounds only unmap them (MADV_DONTNEED): the pages
// stay in the page cache, so one the agent needs again is a minor fault, never a disk read. (Evicting every
// round cost about 45 major faults and, with this machine's 8 MB read-ahead, 40 MB of disk reads a round;
// unmapping from the first round on leaves startup's pages in the cache, where fault-around maps them back: 3 MB
// more RSS. BENCHMARKS.md, "Idle agent".) A read-only mapping with private copies (RELRO) is never touched.
//
// The second round comes half a minute after the first: the jobs that run once a minute start a minute in, just
// after the first round, and their first run touches code that later runs never need (most likely statement
// preparation and first calls; BENCHMARKS.md, "Round 6": 1-2 MB less RSS until the hourly roll-ups run). It only
// unmaps: evicting again gave 0.9 MB less, for another 40 major faults and 25 MB of disk reads at every start.
// Each round starts with a full garbage collection: startup leaves garbage that an idle heap would otherwise carry
// for a long time (about 0.4 MB of RssAnon, for a few milliseconds of CPU every 10 minutes). The agent passes a
// `collect` that also has SQLite let go of its page cache (another 0.3 MB, agent.ts). A kernel before 5.4 refuses
// MADV_PAGEOUT: that round unmaps instead; if madvise is refused altogether, the part stops.
import { readFileSync, readlinkSync } from "node:fs";
import type { Part } from "./lifecycle.ts";
import type { Logger } from "../log/logger.ts";
import type { Clock } from "./clock.ts";
import { libc, MADV_DONTNEED, MADV_PAGEOUT } from "./libc.ts";

/** The first round: startup has settled. Evicts. */
export const PAGE_OUT_FIRST_MS = 60_000;
/**
 * The second round, after the first run of the jobs that run once a minute (a minute after the metric scheduler
 * starts, so just after the first round). Unmaps, as every later round does.
 */
export const PAGE_OUT_SECOND_MS = 90_000;
/**
 * Every 10 minutes after the second: code touched by rare work (roll-ups, inventory, commands) is unmapped too.
 * A round that unmaps costs the idle agent a few hundred minor faults for its hot pages.
 */
export const PAGE_OUT_EVERY_MS = 10 * 60_000;

/** Round `n` (from 0) of the schedule: when, in ms after the part started, and how. */
export function pageOutRound(n: number): { at: number; mode: PageOutMode } {
  if (n === 0) return { at: PAGE_OUT_FIRST_MS, mode: "evict" };
  return { at: PAGE_OUT_SECOND_MS + (n - 1) * PAGE_OUT_EVERY_MS, mode: "unmap" };
}

/** A type alias, not an interface, so it can be passed as log fields. */
export type PageOutResult = {
  /** Read-only mappings of the executable that were advised. */
  ranges: number;
  bytes: number;
};

/**
 * The read-only (r-x and r--) mappings of the running executable that hold nothing but the file's own pages,
 * from /proc/self/smaps. A read-only mapping with anonymous pages (the relocated, then write-protected RELRO) is
 * left out: dropping those would put the unrelocated file contents back.
 */
export function executableRanges(
  smaps = readFileSync("/proc/self/smaps", "utf8"),
  exe = readlinkSync("/proc/self/exe"),
): { start: bigint; end: bigint }[] {
  const ranges: { start: bigint; end: bigint }[] = [];
  let current: { start: bigint; end: bigint } | undefined;
  for (const line of smaps.split("\n")) {
    // "start-end perms offset dev inode   path": the path may hold spaces (" (deleted)" after an upgrade).
    const header = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (header) {
      current = header[4] === exe && header[3]![1] !== "w" ? { start: BigInt(`0x${header[1]}`), end: BigInt(`0x${header[2]}`) } : undefined;
      continue;
    }
    const anonymous = /^Anonymous:\s+(\d+) kB/.exec(line);
    if (anonymous && current) {
      if (anonymous[1] === "0") ranges.push(current);
      current = undefined;
    }
  }
  return ranges;
}

/** "evict": out of the page cache too (MADV_PAGEOUT, Linux 5.4+); "unmap": from the agent only (MADV_DONTNEED). */
export type PageOutMode = "evict" | "unmap";

/**
 * Takes the executable's clean read-only pages from the agent now. Unmapped pages stay in the page cache, so a
 * page needed again is a minor fault; evicted ones are read back from the file. Throws when madvise is refused.
 */
export function pageOutExecutable(mode: PageOutMode = "unmap"): PageOutResult {
  const c = libc();
  if (!c) throw new Error("libc is not available");
  const [advice, name] = mode === "evict" ? [MADV_PAGEOUT, "MADV_PAGEOUT"] : [MADV_DONTNEED, "MADV_DONTNEED"];
  let bytes = 0n;
  const ranges = executableRanges();
  for (const { start, end } of ranges) {
    if (c.madvise(start, end - start, advice) !== 0) throw new Error(`madvise(${name}) was refused`);
    bytes += end - start;
  }
  return { ranges: ranges.length, bytes: Number(bytes) };
}

/**
 * The agent part that collects garbage and takes the idle executable pages, by pageOutRound: evicted after
 * startup, unmapped half a minute later and every PAGE_OUT_EVERY_MS after that.
 */
export function pageOutPart(
  log: Logger,
  clock: Clock,
  run: (mode: PageOutMode) => PageOutResult = pageOutExecutable,
  collect: () => void = () => Bun.gc(true),
): Part {
  let stop: AbortController | undefined;
  const attempt = (mode: PageOutMode): PageOutResult | string => {
    try {
      return run(mode);
    } catch (err) {
      return err instanceof Error ? err.message : String(err);
    }
  };
  async function loop(signal: AbortSignal): Promise<void> {
    // Each wait is the gap since the previous round, so a process that was stopped for a while does not run the
    // rounds it missed back to back.
    let previous = 0;
    for (let n = 0; ; n++) {
      const { at, mode } = pageOutRound(n);
      try {
        await clock.sleep(at - previous, signal);
      } catch {
        return; // stopped
      }
      previous = at;
      try {
        collect();
      } catch (err) {
        log.debug("collecting before the page-out failed", { error: err });
      }
      let result = attempt(mode);
      if (typeof result === "string" && mode === "evict") result = attempt("unmap"); // a kernel before 5.4
      if (typeof result === "string") {
        log.debug("cannot page out the executable; not trying again", { error: result });
        return;
      }
      log.debug("paged out the executable's idle pages", { mode, ...result });
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
