// Sanity checks of the probes against the machine running the tests; the figures are read here independently.
import { beforeAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { takeOnceSample, type OnceSample } from "../../../src/capabilities/metrics/once.ts";
import { diskUsage } from "../../../src/platform/proc/mountinfo.ts";

function ownMountinfo(): string[][] {
  let text: string;
  try {
    text = readFileSync("/proc/1/mountinfo", "utf8");
  } catch {
    text = readFileSync("/proc/self/mountinfo", "utf8");
  }
  return text
    .split("\n")
    .filter(Boolean)
    .map((line) => line.split(" "));
}

/** Whether / is the first mount of a /dev block device (not so in containers, whose / is an overlay). */
function rootIsListable(): boolean {
  const mounts = ownMountinfo();
  const sourceOf = (fields: string[]) => fields[fields.indexOf("-", 6) + 2];
  const root = mounts.filter((fields) => fields[4] === "/").at(-1);
  const source = root && sourceOf(root);
  if (!source?.startsWith("/dev/") || source.startsWith("/dev/loop")) return false;
  return mounts.find((fields) => sourceOf(fields) === source)?.[4] === "/";
}

describe("live machine", () => {
  let sample: OnceSample;
  beforeAll(async () => {
    sample = await takeOnceSample({ windowMs: 200 });
  });

  test("cpu and memory usage are percentages", () => {
    expect(sample.cpu.usage).toBeGreaterThanOrEqual(0);
    expect(sample.cpu.usage).toBeLessThanOrEqual(100);
    expect(sample.memory.usage).toBeGreaterThan(0);
    expect(sample.memory.usage).toBeLessThanOrEqual(100);
    expect(Date.parse(sample.timestamp)).not.toBeNaN();
  });

  test("memory total is MemTotal x 1024", () => {
    const kib = Number(/^MemTotal:\s+(\d+) kB$/m.exec(readFileSync("/proc/meminfo", "utf8"))?.[1]);
    expect(kib).toBeGreaterThan(0);
    expect(sample.memory.total).toBe(kib * 1024);
  });

  test.skipIf(!rootIsListable())("/ is listed when it is the first mount of a /dev block device", () => {
    expect(sample.disk_usage.map((d) => d.mount_point)).toContain("/");
  });

  test("statfs of / gives a consistent usage", () => {
    const usage = diskUsage("/");
    expect(usage.total).toBeGreaterThan(0);
    expect(usage.used + usage.free).toBeLessThanOrEqual(usage.total);
    expect(usage.usage).toBeGreaterThanOrEqual(0);
    expect(usage.usage).toBeLessThanOrEqual(100);
  });

  test("rates are finite and not negative", () => {
    const rates = [
      ...sample.disk_io.flatMap((d) => [d.read_bps, d.write_bps]),
      ...sample.traffic.flatMap((t) => [t.input_bps, t.output_bps, t.input_pps, t.output_pps]),
    ];
    for (const rate of rates) {
      expect(Number.isFinite(rate)).toBe(true);
      expect(rate).toBeGreaterThanOrEqual(0);
    }
    expect(sample.traffic.map((t) => t.name)).not.toContain("lo");
  });
});
