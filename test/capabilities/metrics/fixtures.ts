// Test helpers for the metric probes: fixture paths, and a proc tree that switches snapshots while the sampler sleeps.
// Never sleeps for real: the clock it hands out moves only when the sampler asks it to sleep.
import { mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ManualClock, type Clock } from "../../../src/platform/clock.ts";
import type { StatfsNumbers } from "../../../src/platform/proc/mountinfo.ts";

export const FIXTURES = join(import.meta.dir, "../../fixtures");

export const fixture = (...parts: string[]) => join(FIXTURES, ...parts);
export const readFixture = (...parts: string[]) => readFileSync(fixture(...parts), "utf8");

export interface SwappingTree {
  procRoot: string;
  clock: Clock;
  /** The durations the sampler asked to sleep. */
  requestedSleeps: number[];
  cleanup(): void;
}

/**
 * A procRoot that shows `before` until the sampler sleeps and `after` from then on; the sleep moves a
 * ManualClock by `elapsedMs`, whatever duration was asked, so a test can tell measured from requested time.
 */
export function swappingTree(before: string, after: string, elapsedMs: number): SwappingTree {
  const dir = mkdtempSync(join(tmpdir(), "alpamon-once-"));
  const procRoot = join(dir, "proc");
  symlinkSync(before, procRoot);
  const manual = new ManualClock();
  const requestedSleeps: number[] = [];
  const clock: Clock = {
    now: () => manual.now(),
    monotonic: () => manual.monotonic(),
    sleep: async (ms) => {
      requestedSleeps.push(ms);
      rmSync(procRoot);
      symlinkSync(after, procRoot);
      await manual.advance(elapsedMs);
    },
  };
  return { procRoot, clock, requestedSleeps, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A statfs over a table of mount points; any other path fails like a vanished mount. */
export function fakeStatfs(table: Record<string, StatfsNumbers>): (mountPoint: string) => StatfsNumbers {
  return (mountPoint) => {
    const stats = table[mountPoint];
    if (!stats) throw Object.assign(new Error(`EIO: statfs ${mountPoint}`), { code: "EIO" });
    return stats;
  };
}
