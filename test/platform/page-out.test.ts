// Paging the executable out for real: a private copy of the Bun runtime (so no other process shares its pages)
// runs a script that calls pageOutExecutable and reports what it did to its own memory (runProbe). The schedule is
// driven with a ManualClock.
import { describe, expect, test } from "bun:test";
import { closeSync, copyFileSync, fsyncSync, openSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { LogHub, type LogRecord } from "../../src/log/logger.ts";
import { ManualClock } from "../../src/platform/clock.ts";
import {
  collectForRound,
  executableMappings,
  filePageRuns,
  PAGE_OUT_EVERY_MS,
  PAGE_OUT_FIRST_MS,
  PAGE_OUT_SECOND_MS,
  type PageOutMode,
  pageOutExecutable,
  pageOutPart,
  SHRINK_ROUND,
} from "../../src/platform/page-out.ts";
import { useTempDirs } from "../helpers/tmp.ts";

const tempDir = useTempDirs("alpamon-page-out-");
const MODULE = join(import.meta.dir, "../../src/platform/page-out.ts");

/**
 * Runs `lines` in a private copy of the Bun runtime (no other process shares its pages; written back, so its
 * page-cache pages are clean and reclaimable, as an installed binary's are) and returns what it printed as JSON.
 * The script starts with `exeBlocks()`: the /proc/self/smaps entries of the runtime's own mappings.
 */
function runProbe<T>(lines: string[]): T {
  const dir = tempDir();
  const runtime = join(dir, "bun-copy");
  copyFileSync(process.execPath, runtime);
  const fd = openSync(runtime, "r");
  fsyncSync(fd);
  closeSync(fd);
  const script = join(dir, "probe.ts");
  const prelude = [
    `import { readFileSync } from "node:fs";`,
    `const exeBlocks = () => readFileSync("/proc/self/smaps", "utf8").split(/\\n(?=[0-9a-f]+-[0-9a-f]+ )/)`,
    `  .filter((block) => block.split("\\n")[0]!.endsWith(process.execPath));`,
  ];
  writeFileSync(script, [...prelude, ...lines].join("\n"));
  const run = Bun.spawnSync([runtime, script], { stdout: "pipe", stderr: "pipe", env: { PATH: process.env.PATH ?? "/usr/bin:/bin" } });
  expect(run.stderr.toString()).toBe("");
  return JSON.parse(run.stdout.toString()) as T;
}

describe("executableMappings", () => {
  test("every mapping of the running file; clean only when read-only without private copies; a path with spaces", () => {
    const exe = "/usr/bin/alpamon (deleted)";
    const mapping = (header: string, anonymousKb: number, pageKb = 4) => [
      header,
      "Size:               4096 kB",
      `KernelPageSize:     ${pageKb} kB`,
      "Rss:                 512 kB",
      `Anonymous:          ${anonymousKb} kB`,
      "VmFlags: rd mr mw me",
    ];
    const smaps = [
      ...mapping(`55d0c0000000-55d0c1000000 r--p 00000000 08:01 42    ${exe}`, 0),
      ...mapping(`55d0c1000000-55d0c4000000 r-xp 01000000 08:01 42    ${exe}`, 0),
      ...mapping(`55d0c4000000-55d0c4100000 rw-p 04000000 08:01 42    ${exe}`, 60),
      ...mapping(`55d0c4100000-55d0c4108000 r--p 04100000 08:01 42    ${exe}`, 12), // RELRO: relocated, then write-protected
      ...mapping(`55d0c4110000-55d0c4700000 rw-p 04110000 08:01 42    ${exe}`, 0, 64), // writable, no private copy yet; 64 KiB pages
      ...mapping("7f0000000000-7f0000200000 r-xp 00000000 08:01 7     /usr/lib/x86_64-linux-gnu/libc.so.6", 0),
      ...mapping("7f0000400000-7f0000500000 rw-p 00000000 00:00 0 ", 1024),
      "",
    ].join("\n");
    expect(executableMappings(smaps, "/usr/bin/alpamon")).toEqual([]); // not the running file
    // Every mapping of the file, for the evicting round; only the first two may be unmapped.
    expect(executableMappings(smaps, exe).map((m) => [m.start.toString(16), m.end.toString(16), m.clean, Number(m.pageSize)])).toEqual([
      ["55d0c0000000", "55d0c1000000", true, 4096],
      ["55d0c1000000", "55d0c4000000", true, 4096],
      ["55d0c4000000", "55d0c4100000", false, 4096],
      ["55d0c4100000", "55d0c4108000", false, 4096],
      ["55d0c4110000", "55d0c4700000", false, 65536],
    ]);
  });
});

describe("filePageRuns", () => {
  test("runs of present file pages; a private copy, a page not in memory or a swapped one ends a run", () => {
    const PRESENT = 1n << 63n;
    const SWAPPED = 1n << 62n;
    const FILE = 1n << 61n;
    const pages = [PRESENT | FILE | 123n, PRESENT | FILE, PRESENT, 0n, PRESENT | FILE, SWAPPED, PRESENT | FILE, PRESENT | FILE];
    const entries = new Uint8Array(pages.length * 8);
    const view = new DataView(entries.buffer);
    for (const [i, entry] of pages.entries()) view.setBigUint64(i * 8, entry, true);
    const at = (page: number) => 0x10000n + BigInt(page) * 4096n;
    expect(filePageRuns(0x10000n, entries)).toEqual([
      { start: at(0), end: at(2) },
      { start: at(4), end: at(5) },
      { start: at(6), end: at(8) }, // closed at the end of the range
    ]);
    expect(filePageRuns(0x10000n, new Uint8Array(0))).toEqual([]);
    // With 64 KiB pages each entry covers 64 KiB.
    expect(filePageRuns(0x100000n, entries.subarray(0, 16), 65536n)).toEqual([{ start: 0x100000n, end: 0x120000n }]);
  });
});

describe("pageOutExecutable: which advice goes where", () => {
  const MB = 0x100000n;
  const PRESENT_FILE = (1n << 63n) | (1n << 61n);
  const PRESENT_COPY = 1n << 63n;
  /** Code, read-only data, the RELRO and a writable mapping (three pages: file, private copy, file). */
  function recording() {
    const calls: [string, string, number][] = [];
    const sys = {
      mappings: () => [
        { start: 1n * MB, end: 2n * MB, clean: true, pageSize: 4096n },
        { start: 2n * MB, end: 5n * MB, clean: true, pageSize: 4096n },
        { start: 5n * MB, end: 5n * MB + 0x2000n, clean: false, pageSize: 4096n },
        { start: 6n * MB, end: 6n * MB + 0x3000n, clean: false, pageSize: 4096n },
      ],
      pagemap: (start: bigint, end: bigint, pageSize: bigint) => {
        expect(pageSize).toBe(4096n);
        const pages = start === 6n * MB ? [PRESENT_FILE, PRESENT_COPY, PRESENT_FILE] : [PRESENT_COPY, PRESENT_COPY];
        expect(BigInt(pages.length) * 4096n).toBe(end - start);
        const entries = new Uint8Array(pages.length * 8);
        for (const [i, entry] of pages.entries()) new DataView(entries.buffer).setBigUint64(i * 8, entry, true);
        return entries;
      },
      madvise: (start: bigint, length: bigint, advice: number) => {
        calls.push([start.toString(16), (start + length).toString(16), advice]);
        return 0;
      },
    };
    return { calls, sys };
  }
  const RANDOM = 1;
  const DONTNEED = 4;
  const PAGEOUT = 21;

  test("evict: every mapping marked for random access; clean ones paged out whole, the others only their file pages", () => {
    const { calls, sys } = recording();
    expect(pageOutExecutable("evict", sys)).toEqual({ ranges: 4, bytes: Number(4n * MB + 0x2000n) });
    expect(calls).toEqual([
      ["100000", "200000", RANDOM],
      ["100000", "200000", PAGEOUT],
      ["200000", "500000", RANDOM],
      ["200000", "500000", PAGEOUT],
      ["500000", "502000", RANDOM], // the RELRO: private copies only, nothing paged out
      ["600000", "603000", RANDOM],
      ["600000", "601000", PAGEOUT],
      ["602000", "603000", PAGEOUT],
    ]);
  });

  test("unmap: only the clean mappings, whole; never a mapping that holds or may hold private copies", () => {
    const { calls, sys } = recording();
    expect(pageOutExecutable("unmap", sys)).toEqual({ ranges: 2, bytes: Number(4n * MB) });
    expect(calls).toEqual([
      ["100000", "200000", DONTNEED],
      ["200000", "500000", DONTNEED],
    ]);
  });

  test("a refused page-out is an error naming the advice; a refused hint is not", () => {
    const { sys } = recording();
    expect(() => pageOutExecutable("evict", { ...sys, madvise: (_s, _l, advice) => (advice === PAGEOUT ? -1 : 0) })).toThrow(
      "madvise(MADV_PAGEOUT) was refused",
    );
    expect(pageOutExecutable("evict", { ...sys, madvise: (_s, _l, advice) => (advice === RANDOM ? -1 : 0) }).ranges).toBe(4);
  });
});

describe("pageOutExecutable", () => {
  /** Runs a private copy of the Bun runtime that takes its own pages in `mode`, then runs much of its code again. */
  function probe(mode: "evict" | "unmap") {
    const out = runProbe<{
      before: number;
      after: number;
      result: { ranges: number; bytes: number };
      majorFaults: number;
      work: number;
      writableBefore: { anon: number }[];
      writableAfter: { anon: number }[];
    }>([
      `import { pageOutExecutable } from ${JSON.stringify(MODULE)};`,
      `const rssFile = () => Number(/RssFile:\\s+(\\d+)/.exec(readFileSync("/proc/self/status", "utf8"))![1]);`,
      `const majflt = () => Number(readFileSync("/proc/self/stat", "utf8").split(") ")[1]!.split(" ")[9]);`,
      // The writable mappings of the file (Bun's data): kB of private copies.
      `const writable = () => exeBlocks().filter((b) => / rw.p /.test(b.split("\\n")[0]!))`,
      `  .map((b) => ({ anon: Number(/^Anonymous:\\s+(\\d+)/m.exec(b)![1]) }));`,
      `const writableBefore = writable();`,
      `const before = rssFile();`,
      `const faults = majflt();`,
      `const result = pageOutExecutable(${JSON.stringify(mode)});`,
      `const after = rssFile();`,
      `const writableAfter = writable();`,
      `Bun.gc(true);`,
      `const work = new Bun.CryptoHasher("sha256").update(JSON.stringify({ a: [1, 2, 3], b: "x".repeat(1000) })).digest("hex");`,
      `console.log(JSON.stringify({ before, after, result, majorFaults: majflt() - faults, work: work.length, writableBefore, writableAfter }));`,
    ]);
    expect(out.result.ranges).toBeGreaterThanOrEqual(2);
    expect(out.result.bytes).toBeGreaterThan(20 * 1024 * 1024);
    expect(out.before).toBeGreaterThan(10_000); // kB
    expect(out.after).toBeLessThan(out.before / 2);
    expect(out.work).toBe(64); // it runs on
    return out;
  }

  test("unmap: drops most of a private runtime's file-backed pages from its RSS, and reads nothing back from disk", () => {
    expect(probe("unmap").majorFaults).toBeLessThan(5); // the pages stayed in the page cache (evicted: dozens)
  });

  test("evict: drops them from its RSS too, and keeps every private copy in the writable mappings", () => {
    const out = probe("evict");
    // (Which of their pages are file pages is decided above; here Bun's data shares its file pages' folios with the
    // code, so they leave with the code either way.)
    expect(out.writableBefore.length).toBeGreaterThanOrEqual(1);
    expect(out.writableBefore.some((x) => x.anon > 0)).toBe(true);
    expect(out.writableAfter.map((x) => x.anon)).toEqual(out.writableBefore.map((x) => x.anon));
  });
});

describe("pageOutExecutable, evicting: pages read back one at a time", () => {
  test("every mapping is marked for random access; a data page read back after the page cache let go of it comes back alone", () => {
    // mincore(2) tells which pages of a mapping the page cache holds: after one page of the read-only data is
    // touched, the pages around it that came into the cache with it are what was read ahead.
    const out = runProbe<{ before: string[]; after: string[]; touches: number[] }>([
      `import { dlopen, FFIType, ptr, read } from "bun:ffi";`,
      `import { executableMappings, pageOutExecutable } from ${JSON.stringify(MODULE)};`,
      `const { mincore } = dlopen("libc.so.6", { mincore: { args: [FFIType.u64, FFIType.u64, FFIType.ptr], returns: FFIType.i32 } }).symbols;`,
      `const WINDOW = 64;`,
      `const vec = new Uint8Array(WINDOW);`,
      `const cached = (at: bigint) => { if (mincore(at, BigInt(WINDOW * 4096), ptr(vec)) !== 0) throw new Error("mincore"); return vec.reduce((n, b) => n + (b & 1), 0); };`,
      `const flags = () => exeBlocks().map((block) => /^VmFlags:(.*)$/m.exec(block)![1]!.trim());`,
      `const code = new Set(readFileSync("/proc/self/maps", "utf8").split("\\n").filter((l) => / r-x. /.test(l)).map((l) => BigInt("0x" + l.split("-")[0])));`,
      // The largest read-only mapping that is not code (the kernel reads code ahead whatever the advice).
      `const data = executableMappings().filter((m) => m.clean && !code.has(m.start))`,
      `  .sort((a, b) => Number((b.end - b.start) - (a.end - a.start)))[0]!;`,
      `cached(data.start);`,
      `const before = flags();`,
      `pageOutExecutable("evict");`,
      `const after = flags();`,
      // The page cache lets go of the file's pages that nobody maps, as memory pressure would.
      `Bun.spawnSync(["dd", "if=" + process.execPath, "iflag=nocache", "count=0"], { stderr: "ignore" });`,
      `const touches: number[] = [];`,
      `for (let i = 0n; i < 8n; i++) {`,
      `  const window = data.start + 1048576n + i * 2n * 1048576n;`,
      `  if (window + BigInt(WINDOW * 4096) > data.end) break;`,
      `  const was = cached(window);`,
      `  read.u8(Number(window + 16n * 4096n));`,
      `  touches.push(cached(window) - was);`,
      `}`,
      `console.log(JSON.stringify({ before, after, touches }));`,
    ]);
    expect(out.after.length).toBeGreaterThanOrEqual(3);
    expect(out.before.filter((f) => f.split(" ").includes("rr"))).toEqual([]); // not before the round
    for (const f of out.after) expect(f.split(" ")).toContain("rr");
    // Each touch brought its own page into the cache and nothing around it. Without the advice, one fault reads
    // the whole read-ahead window around it (128 KB by default, 8 MB on this machine): all 64 pages here.
    expect(out.touches.length).toBeGreaterThanOrEqual(4);
    expect(Math.max(...out.touches)).toBe(1); // one came back alone (one already in the cache adds none)
    expect(Math.min(...out.touches)).toBeGreaterThanOrEqual(0);
  });
});

describe("collectForRound", () => {
  test("JSC's footprint shrink before the second round only, a full collection before every other", () => {
    const calls: string[] = [];
    const jsc = { gc: () => calls.push("gc"), shrink: () => calls.push("shrink") };
    for (let round = 0; round < 5; round++) collectForRound(round, jsc);
    expect(SHRINK_ROUND).toBe(1);
    expect(calls).toEqual(["gc", "shrink", "gc", "gc", "gc"]);
  });

  test("a Bun without the shrink gets the full collection in that round too", () => {
    const calls: string[] = [];
    for (let round = 0; round < 3; round++) collectForRound(round, { gc: () => calls.push("gc") });
    expect(calls).toEqual(["gc", "gc", "gc"]);
  });

  test("the pinned Bun still has Bun.shrink (deprecated in its types, with no replacement named)", () => {
    expect(typeof (Bun as { shrink?: unknown }).shrink).toBe("function");
  });
});

describe("pageOutPart", () => {
  function setup(run: (mode: PageOutMode) => { ranges: number; bytes: number }, collect: (round: number) => void = () => {}) {
    const clock = new ManualClock();
    const records: LogRecord[] = [];
    const hub = new LogHub({ write: () => {}, close: () => {} }, "debug", () => clock.now());
    hub.listen((r) => records.push(r));
    const part = pageOutPart(hub.logger("memory"), clock, run, collect);
    return { clock, records, part };
  }
  const settle = async () => {
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
  };

  /**
   * Advances the clock to `at` ms after `start`, letting the part run at every deadline on the way, including one
   * it arms for the same instant after a sleep ends.
   */
  async function advanceTo(clock: ManualClock, start: number, at: number) {
    for (let i = 0; i < 4; i++) {
      await clock.advance(Math.max(0, start + at - clock.now()));
      await settle();
    }
  }

  test("evicts a minute after start, unmaps half a minute later and then every PAGE_OUT_EVERY_MS, until stopped; a collection told its round comes first each time", async () => {
    const order: string[] = [];
    const { clock, part } = setup(
      (mode) => {
        order.push(`${mode}@${clock.now()}`);
        return { ranges: 2, bytes: 1 };
      },
      (round) => order.push(`gc${round}@${clock.now()}`),
    );
    const start = clock.now();
    const at = (round: number, kind: string, ms: number) => [`gc${round}@${start + ms}`, `${kind}@${start + ms}`];
    part.start();
    await settle();
    await advanceTo(clock, start, PAGE_OUT_FIRST_MS - 1);
    expect(order).toEqual([]);
    await advanceTo(clock, start, PAGE_OUT_FIRST_MS);
    expect(order).toEqual(at(0, "evict", PAGE_OUT_FIRST_MS));
    await advanceTo(clock, start, PAGE_OUT_SECOND_MS - 1);
    expect(order).toHaveLength(2);
    await advanceTo(clock, start, PAGE_OUT_SECOND_MS);
    const later = [1, 2, 3].map((round) => PAGE_OUT_SECOND_MS + round * PAGE_OUT_EVERY_MS);
    for (const round of later) {
      await advanceTo(clock, start, round - 1);
      await advanceTo(clock, start, round);
    }
    part.stop();
    await settle();
    expect(clock.pending).toBe(0);
    await clock.advance(PAGE_OUT_EVERY_MS);
    expect(order).toEqual([
      ...at(0, "evict", PAGE_OUT_FIRST_MS),
      ...at(1, "unmap", PAGE_OUT_SECOND_MS),
      ...later.flatMap((ms, i) => at(2 + i, "unmap", ms)),
    ]);
  });

  test("a collection that throws is noted at debug and the round pages out anyway", async () => {
    const calls: string[] = [];
    const { clock, records, part } = setup(
      (mode) => {
        calls.push(mode);
        return { ranges: 2, bytes: 1 };
      },
      () => {
        throw new Error("database is closed");
      },
    );
    part.start();
    await clock.advance(PAGE_OUT_FIRST_MS);
    await settle();
    expect(calls).toEqual(["evict"]);
    expect(records.map((r) => r.message)).toEqual(["collecting before the page-out failed", "paged out the executable's idle pages"]);
    part.stop();
  });

  test("a kernel without MADV_PAGEOUT: the first round unmaps instead, and so do the next", async () => {
    const calls: string[] = [];
    const { clock, records, part } = setup((mode) => {
      calls.push(mode);
      if (mode === "evict") throw new Error("madvise(MADV_PAGEOUT) was refused");
      return { ranges: 2, bytes: 1 };
    });
    const start = clock.now();
    part.start();
    await advanceTo(clock, start, PAGE_OUT_FIRST_MS);
    await advanceTo(clock, start, PAGE_OUT_SECOND_MS);
    await advanceTo(clock, start, PAGE_OUT_SECOND_MS + PAGE_OUT_EVERY_MS);
    expect(calls).toEqual(["evict", "unmap", "unmap", "unmap"]);
    expect(records.map((r) => r.message)).toEqual(Array(3).fill("paged out the executable's idle pages"));
    part.stop();
  });

  test("a kernel that refuses both is noted once at debug and never asked again", async () => {
    let calls = 0;
    const { clock, records, part } = setup(() => {
      calls++;
      throw new Error("madvise was refused");
    });
    part.start();
    for (let i = 0; i < 3; i++) {
      await clock.advance(PAGE_OUT_EVERY_MS);
      await settle();
    }
    expect(calls).toBe(2); // evict, then unmap, in the first round
    expect(records.map((r) => [r.level, r.message])).toEqual([["debug", "cannot page out the executable; not trying again"]]);
    part.stop();
  });
});
