// Paging the executable out for real: a private copy of the Bun runtime (so no other process shares its pages)
// runs a script that calls pageOutExecutable and reports its own RssFile before and after. The schedule is
// driven with a ManualClock.
import { describe, expect, test } from "bun:test";
import { copyFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { LogHub, type LogRecord } from "../../src/log/logger.ts";
import { ManualClock } from "../../src/platform/clock.ts";
import { executableRanges, PAGE_OUT_EVERY_MS, PAGE_OUT_FIRST_MS, pageOutPart } from "../../src/platform/page-out.ts";
import { useTempDirs } from "../helpers/tmp.ts";

const tempDir = useTempDirs("alpamon-page-out-");
const MODULE = join(import.meta.dir, "../../src/platform/page-out.ts");

describe("executableRanges", () => {
  test("only the executable's read-only mappings, a path with spaces included", () => {
    const exe = "/usr/bin/alpamon (deleted)";
    const maps = [
      `55d0c0000000-55d0c1000000 r--p 00000000 08:01 42    ${exe}`,
      `55d0c1000000-55d0c4000000 r-xp 01000000 08:01 42    ${exe}`,
      `55d0c4000000-55d0c4100000 rw-p 04000000 08:01 42    ${exe}`,
      "7f0000000000-7f0000200000 r-xp 00000000 08:01 7     /usr/lib/x86_64-linux-gnu/libc.so.6",
      "7f0000400000-7f0000500000 rw-p 00000000 00:00 0 ",
      "",
    ].join("\n");
    expect(executableRanges(maps, exe)).toEqual([
      { start: 0x55d0c0000000n, end: 0x55d0c1000000n },
      { start: 0x55d0c1000000n, end: 0x55d0c4000000n },
    ]);
    expect(executableRanges(maps, "/usr/bin/alpamon")).toEqual([]); // not the running file
  });
});

describe("pageOutExecutable", () => {
  test("drops most of a private runtime's file-backed pages from its RSS", () => {
    const dir = tempDir();
    const runtime = join(dir, "bun-copy");
    copyFileSync(process.execPath, runtime);
    const script = join(dir, "probe.ts");
    writeFileSync(
      script,
      [
        `import { readFileSync } from "node:fs";`,
        `import { pageOutExecutable } from ${JSON.stringify(MODULE)};`,
        `const rssFile = () => Number(/RssFile:\\s+(\\d+)/.exec(readFileSync("/proc/self/status", "utf8"))![1]);`,
        `const before = rssFile();`,
        `const result = pageOutExecutable();`,
        `console.log(JSON.stringify({ before, after: rssFile(), result }));`,
      ].join("\n"),
    );
    const run = Bun.spawnSync([runtime, script], { stdout: "pipe", stderr: "pipe", env: { PATH: process.env.PATH ?? "/usr/bin:/bin" } });
    expect(run.stderr.toString()).toBe("");
    const { before, after, result } = JSON.parse(run.stdout.toString()) as {
      before: number;
      after: number;
      result: { ranges: number; bytes: number };
    };
    expect(result.ranges).toBeGreaterThanOrEqual(2);
    expect(result.bytes).toBeGreaterThan(20 * 1024 * 1024);
    expect(before).toBeGreaterThan(10_000); // kB
    expect(after).toBeLessThan(before / 2);
  });
});

describe("pageOutPart", () => {
  function setup(run: () => { ranges: number; bytes: number }, collect: () => void = () => {}) {
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

  test("a minute after start, then every PAGE_OUT_EVERY_MS, until stopped; a full GC comes first each time", async () => {
    let calls = 0;
    const order: string[] = [];
    const { clock, part } = setup(
      () => {
        calls++;
        order.push("page-out");
        return { ranges: 2, bytes: 1 };
      },
      () => order.push("gc"),
    );
    part.start();
    await settle();
    await clock.advance(PAGE_OUT_FIRST_MS - 1);
    await settle();
    expect(calls).toBe(0);
    await clock.advance(1);
    await settle();
    expect(calls).toBe(1);
    for (let round = 1; round <= 3; round++) {
      await clock.advance(PAGE_OUT_EVERY_MS);
      await settle();
      expect(calls).toBe(1 + round);
    }
    part.stop();
    await settle();
    expect(clock.pending).toBe(0);
    await clock.advance(PAGE_OUT_EVERY_MS);
    expect(calls).toBe(4);
    expect(order).toEqual(Array(4).fill(["gc", "page-out"]).flat());
  });

  test("a kernel that refuses it is noted once at debug and never asked again", async () => {
    let calls = 0;
    const { clock, records, part } = setup(() => {
      calls++;
      throw new Error("madvise(MADV_PAGEOUT) was refused");
    });
    part.start();
    for (let i = 0; i < 3; i++) {
      await clock.advance(PAGE_OUT_EVERY_MS);
      await settle();
    }
    expect(calls).toBe(1);
    expect(records.map((r) => [r.level, r.message])).toEqual([["debug", "cannot page out the executable; not trying again"]]);
    part.stop();
  });
});
