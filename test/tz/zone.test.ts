// The time-zone-sensitive tests a second time under non-UTC zones, so `npm test` alone (and CI, which runs
// it) catches a timestamp written in local time but labelled `Z`, or a local time with the wrong offset:
// under UTC both look right. Asia/Seoul is +09:00 with no DST (local midnight is 15:00Z, so a local-time
// day or hour boundary is off by 9 h); America/St_Johns is -03:30/-02:30, a half-hour offset with DST.
// Each zone runs in its own `bun test` child, both at once; a few seconds in all.
import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";

const ROOT = join(import.meta.dir, "..", "..");

/** Files whose assertions depend on the zone: they format or compare wall-clock or UTC timestamps. */
const FORMATTING = [
  "test/tz/local-time.test.ts", // every formatter against Intl, with literals per zone (ZONE-DEPENDENT)
  "test/capabilities/metrics/realtime-checks.test.ts", // realtime bodies: UTC `…Z` literals
  "test/capabilities/metrics/rollup.test.ts", // hourly/daily periods are UTC hours and days
  "test/capabilities/metrics/once.test.ts", // --once timestamp
  "test/log/logger.test.ts", // log line time
  "test/capabilities/inventory/collectors.test.ts", // inventory `time` key
  "test/commands/feedback.test.ts", // acked_at / handled_at
  "test/capabilities/users/users-unit.test.ts", // deleted-home UTC stamp
];
const ZONES: { zone: string; files: string[] }[] = [
  {
    zone: "Asia/Seoul",
    files: [
      ...FORMATTING,
      "test/capabilities/metrics/scheduler.test.ts",
      "test/capabilities/inventory/diff.test.ts",
      "test/capabilities/inventory/inventory.test.ts",
      "test/log/intake.test.ts",
      "test/capabilities/files/ftp.test.ts",
    ],
  },
  { zone: "America/St_Johns", files: FORMATTING },
];

async function runUnder(zone: string, files: string[]) {
  const child = Bun.spawn([process.execPath, "test", "--timeout", "60000", ...files], {
    cwd: ROOT,
    env: { ...process.env, TZ: zone, ALPAMON_TEST_ZONE: zone },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const [stdout, stderr, exitCode] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  const output = stdout + stderr;
  const passed = Number(/^\s*(\d+) pass$/m.exec(output)?.[1] ?? 0);
  // Only what a failure needs to be read from the outer run's report.
  const failures = output.split("\n").filter((l) => /^\(fail\)|^error:|^Expected:|^Received:|^\s+at .*test\.ts/.test(l));
  return { zone, exitCode, passed, failures: exitCode === 0 ? [] : failures.length > 0 ? failures : [output.slice(-4000)] };
}

describe("the time-zone-sensitive tests under non-UTC zones", () => {
  test(`pass under ${ZONES.map((z) => z.zone).join(" and ")}`, async () => {
    for (const { files } of ZONES)
      for (const file of files) expect({ file, exists: existsSync(join(ROOT, file)) }).toEqual({ file, exists: true });
    const results = await Promise.all(ZONES.map(({ zone, files }) => runUnder(zone, files)));
    for (const result of results) {
      expect({ zone: result.zone, exitCode: result.exitCode, failures: result.failures }).toEqual({
        zone: result.zone,
        exitCode: 0,
        failures: [],
      });
      expect(result.passed).toBeGreaterThan(ZONES.find((z) => z.zone === result.zone)!.files.length);
    }
  }, 120_000);
});
