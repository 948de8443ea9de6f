// Takes from the agent the executable pages that its idle loop does not use. A compiled Bun binary is about
// 110 MB, and startup (module loading, the first inventory, TLS and SQLite setup) touches some 45 MB of its code
// and read-only data; the idle loop uses less than half of that again. The first round, a minute after start,
// evicts the executable's clean pages (madvise MADV_PAGEOUT): startup's own pages leave the page cache too, and
// the idle loop reads back what it needs once. Later rounds only unmap (MADV_DONTNEED): the pages stay in the
// page cache, so one the agent needs again is a minor fault, never a disk read. (Evicting every round cost about
// 45 major faults and, with this machine's 8 MB read-ahead, 40 MB of disk reads a round; unmapping from the first
// round on leaves startup's pages in the cache, where fault-around maps them back: 3 MB more RSS. BENCHMARKS.md,
// "Idle agent".)
//
// Before it evicts, the first round marks the executable's mappings for random access (MADV_RANDOM): a page read
// back after that is read alone, without the read-ahead around it, so what comes back is what the agent uses. The
// kernel honours that for the read-only data but not for code (an executable mapping is read ahead regardless):
// 2.1-2.8 MB less RSS, at no cost measured in CPU or disk reads (BENCHMARKS.md, "Round 7").
//
// Which pages each kind of round may touch: evicting keeps every page's contents (a clean file page is read back
// from the file), so the first round also evicts the file pages of the writable mappings (the bundle of the
// agent's own code, and Bun's data), page by page from /proc/self/pagemap so that a private copy (a page Bun
// wrote to) is never pushed to swap: another 0.9 MB. Unmapping drops private copies, so later rounds touch only
// the read-only mappings that hold none (never the relocated, then write-protected RELRO).
//
// The second round comes half a minute after the first: the jobs that run once a minute start a minute in, just
// after the first round, and their first run touches code that later runs never need (most likely statement
// preparation and first calls; BENCHMARKS.md, "Round 6": 1-2 MB less RSS until the hourly roll-ups run). It only
// unmaps: evicting again gave 0.9 MB less, for another 40 major faults and 25 MB of disk reads at every start.
// Each round starts with a full garbage collection: startup leaves garbage that an idle heap would otherwise carry
// for a long time (about 0.4 MB of RssAnon, for a few milliseconds of CPU every 10 minutes). The agent passes a
// `collect` that also has SQLite let go of its page cache (another 0.3 MB, agent.ts). Before the second round
// only, the collection is JSC's footprint shrink instead (`collectForRound`): start-up's one-time work is done by
// then (migrations, the first commit, the first run of every job), and dropping the code it compiled gives back
// about 0.5 MB of RssAnon for good; what the idle loop runs is rebuilt from the embedded bytecode as it runs.
// In every round (round 6 measured it) the shrink cost CPU the idle goal had no room for; once, it costs nothing
// measurable (BENCHMARKS.md, "Round 8"). A kernel before 5.4 refuses MADV_PAGEOUT: that round unmaps instead;
// if madvise is refused altogether, the part stops.
import { closeSync, openSync, readFileSync, readlinkSync, readSync } from "node:fs";
import type { Part } from "./lifecycle.ts";
import type { Logger } from "../log/logger.ts";
import type { Clock } from "./clock.ts";
import { libc, MADV_DONTNEED, MADV_PAGEOUT, MADV_RANDOM } from "./libc.ts";

/** The page size where smaps gives none (x86-64; arm64 kernels may use 16 or 64 KiB). */
const PAGE = 4096n;

/** The round (from 0) whose collection is JSC's footprint shrink rather than a full collection: the second. */
export const SHRINK_ROUND = 1;

/** What collects before a round: Bun's full collection, and JSC's footprint shrink where this Bun has it. */
export interface Collector {
  gc(): void;
  shrink?: () => void;
}

/**
 * `Bun.shrink` (JSC's shrinkFootprintWhenIdle: every function's compiled code dropped, a full collection, the
 * allocator's free pages returned) is marked deprecated in Bun's types with nothing named to replace it, so it is
 * looked up, not assumed; a Bun without it gets the full collection (test/platform/page-out.test.ts checks that the
 * pinned Bun has it).
 */
const bunCollector: Collector = {
  gc: () => Bun.gc(true),
  shrink: typeof (Bun as { shrink?: unknown }).shrink === "function" ? () => (Bun as unknown as { shrink(): void }).shrink() : undefined,
};

/** The collection before round `round`: the footprint shrink before SHRINK_ROUND, a full collection otherwise. */
export function collectForRound(round: number, jsc: Collector = bunCollector): void {
  if (round === SHRINK_ROUND && jsc.shrink) jsc.shrink();
  else jsc.gc();
}

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
  /** Mappings of the executable that were advised. */
  ranges: number;
  bytes: number;
};

export interface Range {
  start: bigint;
  end: bigint;
}

/** One mapping of the running executable, and whether it holds private copies (anonymous pages) or may. */
export interface ExecutableMapping extends Range {
  /** Read-only, and nothing but the file's own pages: dropping its pages loses nothing. */
  clean: boolean;
  /** The kernel's page size for it (smaps' KernelPageSize; 4 KiB when not given): one pagemap entry each. */
  pageSize: bigint;
}

/**
 * Every mapping of the running executable, from /proc/self/smaps. Only a read-only (r-x or r--) mapping without
 * anonymous pages is `clean`: a writable one (Bun's data, the bundle) may gain private copies at any time, and
 * a read-only one with anonymous pages is the relocated, then write-protected RELRO, where dropping the copies
 * would put the unrelocated file contents back.
 */
export function executableMappings(
  smaps = readFileSync("/proc/self/smaps", "utf8"),
  exe = readlinkSync("/proc/self/exe"),
): ExecutableMapping[] {
  const mappings: ExecutableMapping[] = [];
  let current: { start: bigint; end: bigint; writable: boolean; pageSize: bigint } | undefined;
  for (const line of smaps.split("\n")) {
    // "start-end perms offset dev inode   path": the path may hold spaces (" (deleted)" after an upgrade).
    const header = /^([0-9a-f]+)-([0-9a-f]+) (\S{4}) \S+ \S+ \S+\s*(.*)$/.exec(line);
    if (header) {
      current =
        header[4] === exe
          ? { start: BigInt(`0x${header[1]}`), end: BigInt(`0x${header[2]}`), writable: header[3]![1] === "w", pageSize: PAGE }
          : undefined;
      continue;
    }
    const pageSize = /^KernelPageSize:\s+(\d+) kB/.exec(line);
    if (pageSize && current) current.pageSize = BigInt(pageSize[1]!) * 1024n;
    const anonymous = /^Anonymous:\s+(\d+) kB/.exec(line);
    if (anonymous && current) {
      mappings.push({
        start: current.start,
        end: current.end,
        clean: !current.writable && anonymous[1] === "0",
        pageSize: current.pageSize,
      });
      current = undefined;
    }
  }
  return mappings;
}

/** /proc/<pid>/pagemap, one 64-bit entry a page: bit 63 the page is present, bit 61 it is a file page (or shared). */
const PRESENT = 1n << 63n;
const FILE_PAGE = 1n << 61n;

/**
 * The runs of present file pages from `start`, from pagemap entries (one 64-bit little-endian entry a page, the
 * first for `start`). A private copy, or a page not in memory, ends a run.
 */
export function filePageRuns(start: bigint, entries: Uint8Array, pageSize = PAGE): Range[] {
  const view = new DataView(entries.buffer, entries.byteOffset, entries.byteLength);
  const runs: Range[] = [];
  let runStart: bigint | undefined;
  const count = Math.floor(entries.byteLength / 8);
  for (let i = 0; i <= count; i++) {
    const entry = i < count ? view.getBigUint64(i * 8, true) : 0n;
    const filePage = (entry & PRESENT) !== 0n && (entry & FILE_PAGE) !== 0n;
    const at = start + BigInt(i) * pageSize;
    if (filePage && runStart === undefined) runStart = at;
    if (!filePage && runStart !== undefined) {
      runs.push({ start: runStart, end: at });
      runStart = undefined;
    }
  }
  return runs;
}

/** The pagemap entries of [start, end) of this process; none where pagemap cannot be read (nothing is evicted). */
function pagemapEntries(start: bigint, end: bigint, pageSize: bigint): Uint8Array {
  const entries = new Uint8Array(Number(((end - start) / pageSize) * 8n));
  let fd: number | undefined;
  try {
    fd = openSync("/proc/self/pagemap", "r");
    let done = 0;
    while (done < entries.byteLength) {
      const n = readSync(fd, entries, done, entries.byteLength - done, Number((start / pageSize) * 8n) + done);
      if (n <= 0) break;
      done += n;
    }
    return entries.subarray(0, done - (done % 8));
  } catch {
    return new Uint8Array(0);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** "evict": out of the page cache too (MADV_PAGEOUT, Linux 5.4+); "unmap": from the agent only (MADV_DONTNEED). */
export type PageOutMode = "evict" | "unmap";

/** What pageOutExecutable reads and calls; a test passes its own to see which advice goes where. */
export interface PageOutSystem {
  mappings(): ExecutableMapping[];
  /** The pagemap entries of [start, end) of this process, one for each page of `pageSize`. */
  pagemap(start: bigint, end: bigint, pageSize: bigint): Uint8Array;
  madvise(start: bigint, length: bigint, advice: number): number;
}

function systemPageOut(): PageOutSystem {
  const c = libc();
  if (!c) throw new Error("libc is not available");
  return {
    mappings: () => executableMappings(),
    pagemap: pagemapEntries,
    madvise: (start, length, advice) => c.madvise(start, length, advice),
  };
}

/**
 * Takes the executable's pages from the agent now. Unmapped pages stay in the page cache, so a page needed again is
 * a minor fault; evicted ones are read back from the file, one page at a time. Throws when madvise is refused.
 */
export function pageOutExecutable(mode: PageOutMode = "unmap", sys: PageOutSystem = systemPageOut()): PageOutResult {
  const advise = (range: Range, advice: number, name: string) => {
    if (sys.madvise(range.start, range.end - range.start, advice) !== 0) throw new Error(`madvise(${name}) was refused`);
  };
  let bytes = 0n;
  let ranges = 0;
  for (const mapping of sys.mappings()) {
    if (mode === "unmap") {
      // Dropping a private copy would lose it: clean mappings only.
      if (!mapping.clean) continue;
      advise(mapping, MADV_DONTNEED, "MADV_DONTNEED");
      bytes += mapping.end - mapping.start;
      ranges++;
      continue;
    }
    // A hint: a kernel that refuses it still evicts, only with read-ahead.
    sys.madvise(mapping.start, mapping.end - mapping.start, MADV_RANDOM);
    // A clean mapping at once; elsewhere only the runs of file pages, never a private copy.
    const targets = mapping.clean
      ? [mapping]
      : filePageRuns(mapping.start, sys.pagemap(mapping.start, mapping.end, mapping.pageSize), mapping.pageSize);
    for (const range of targets) {
      advise(range, MADV_PAGEOUT, "MADV_PAGEOUT");
      bytes += range.end - range.start;
    }
    ranges++;
  }
  return { ranges, bytes: Number(bytes) };
}

/**
 * The agent part that collects garbage and takes the idle executable pages, by pageOutRound: evicted after
 * startup, unmapped half a minute later and every PAGE_OUT_EVERY_MS after that.
 */
export function pageOutPart(
  log: Logger,
  clock: Clock,
  run: (mode: PageOutMode) => PageOutResult = pageOutExecutable,
  collect: (round: number) => void = collectForRound,
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
        collect(n);
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
