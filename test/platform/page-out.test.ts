// Paging the executable out for real: a private copy of the Bun runtime (so no other process shares its pages)
// runs a script that calls pageOutExecutable and reports its own RssFile before and after. The schedule is
// driven with a ManualClock.
import { describe, expect, test } from "bun:test";
import { closeSync, copyFileSync, fsyncSync, openSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { LogHub, type LogRecord } from "../../src/log/logger.ts";
import { ManualClock } from "../../src/platform/clock.ts";
import {
  executableRanges,
  PAGE_OUT_EVERY_MS,
  PAGE_OUT_FIRST_MS,
  PAGE_OUT_SECOND_MS,
  type PageOutMode,
  pageOutPart,
} from "../../src/platform/page-out.ts";
import { useTempDirs } from "../helpers/tmp.ts";

const tempDir = useTempDirs("alpamon-page-out-");
const MODULE = join(import.meta.dir, "../../src/platform/page-out.ts");

describe("executableRanges", () => {
  test("only the executable's read-only mappings without private copies, a path with spaces included", () => {
    const exe = "/usr/bin/alpamon (deleted)";
    const mapping = (header: string, anonymousKb: number) => [
      header,
      "Size:               4096 kB",
      "Rss:                 512 kB",
      `Anonymous:          ${anonymousKb} kB`,
      "VmFlags: rd mr mw me",
    ];
    const smaps = [
      ...mapping(`55d0c0000000-55d0c1000000 r--p 00000000 08:01 42    ${exe}`, 0),
      ...mapping(`55d0c1000000-55d0c4000000 r-xp 01000000 08:01 42    ${exe}`, 0),
      ...mapping(`55d0c4000000-55d0c4100000 rw-p 04000000 08:01 42    ${exe}`, 60),
      ...mapping(`55d0c4100000-55d0c4108000 r--p 04100000 08:01 42    ${exe}`, 12), // RELRO: relocated, then write-protected
      ...mapping("7f0000000000-7f0000200000 r-xp 00000000 08:01 7     /usr/lib/x86_64-linux-gnu/libc.so.6", 0),
      ...mapping("7f0000400000-7f0000500000 rw-p 00000000 00:00 0 ", 1024),
      "",
    ].join("\n");
    expect(executableRanges(smaps, exe)).toEqual([
      { start: 0x55d0c0000000n, end: 0x55d0c1000000n },
      { start: 0x55d0c1000000n, end: 0x55d0c4000000n },
    ]);
    expect(executableRanges(smaps, "/usr/bin/alpamon")).toEqual([]); // not the running file
  });
});

describe("pageOutExecutable", () => {
  /** Runs a private copy of the Bun runtime that takes its own pages in `mode`, then runs much of its code again. */
  function probe(mode: "evict" | "unmap") {
    const dir = tempDir();
    const runtime = join(dir, "bun-copy");
    copyFileSync(process.execPath, runtime);
    // Written back, so its page-cache pages are clean: reclaimable, as an installed binary's are.
    const fd = openSync(runtime, "r");
    fsyncSync(fd);
    closeSync(fd);
    const script = join(dir, "probe.ts");
    writeFileSync(
      script,
      [
        `import { readFileSync } from "node:fs";`,
        `import { pageOutExecutable } from ${JSON.stringify(MODULE)};`,
        `const rssFile = () => Number(/RssFile:\\s+(\\d+)/.exec(readFileSync("/proc/self/status", "utf8"))![1]);`,
        `const majflt = () => Number(readFileSync("/proc/self/stat", "utf8").split(") ")[1]!.split(" ")[9]);`,
        `const before = rssFile();`,
        `const faults = majflt();`,
        `const result = pageOutExecutable(${JSON.stringify(mode)});`,
        `const after = rssFile();`,
        `Bun.gc(true);`,
        `const work = new Bun.CryptoHasher("sha256").update(JSON.stringify({ a: [1, 2, 3], b: "x".repeat(1000) })).digest("hex");`,
        `console.log(JSON.stringify({ before, after, result, majorFaults: majflt() - faults, work: work.length }));`,
      ].join("\n"),
    );
    const run = Bun.spawnSync([runtime, script], { stdout: "pipe", stderr: "pipe", env: { PATH: process.env.PATH ?? "/usr/bin:/bin" } });
    expect(run.stderr.toString()).toBe("");
    const out = JSON.parse(run.stdout.toString()) as {
      before: number;
      after: number;
      result: { ranges: number; bytes: number };
      majorFaults: number;
      work: number;
    };
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

  test("evict: drops them from its RSS too", () => {
    probe("evict");
  });
});

describe("pageOutPart", () => {
  function setup(run: (mode: PageOutMode) => { ranges: number; bytes: number }, collect: () => void = () => {}) {
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

  test("evicts a minute after start, unmaps half a minute later and then every PAGE_OUT_EVERY_MS, until stopped; a full GC comes first each time", async () => {
    const order: string[] = [];
    const { clock, part } = setup(
      (mode) => {
        order.push(`${mode}@${clock.now()}`);
        return { ranges: 2, bytes: 1 };
      },
      () => order.push(`gc@${clock.now()}`),
    );
    const start = clock.now();
    const at = (kind: string, ms: number) => [`gc@${start + ms}`, `${kind}@${start + ms}`];
    part.start();
    await settle();
    await advanceTo(clock, start, PAGE_OUT_FIRST_MS - 1);
    expect(order).toEqual([]);
    await advanceTo(clock, start, PAGE_OUT_FIRST_MS);
    expect(order).toEqual(at("evict", PAGE_OUT_FIRST_MS));
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
      ...at("evict", PAGE_OUT_FIRST_MS),
      ...at("unmap", PAGE_OUT_SECOND_MS),
      ...later.flatMap((round) => at("unmap", round)),
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
