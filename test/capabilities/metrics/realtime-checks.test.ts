// Realtime checks on written /proc and /sys trees with a ManualClock: baselines, measured elapsed time,
// counter wraps, disks and interfaces that appear or vanish, zeros that stay in the body, sender windows.
// ZONE-DEPENDENT: bodies carry UTC `…Z` literals; test/tz/zone.test.ts runs this file under non-UTC zones too.
import { describe, expect, test } from "bun:test";
import { mkdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { ALERT_PATH, alertCheck } from "../../../src/capabilities/metrics/checks/alert.ts";
import { CPU_PATH, cpuCheck } from "../../../src/capabilities/metrics/checks/cpu.ts";
import { diskIoCollector } from "../../../src/capabilities/metrics/checks/disk-io-collector.ts";
import { DISK_IO_PATH, diskIoSender } from "../../../src/capabilities/metrics/checks/disk-io.ts";
import { DISK_USAGE_PATH, diskUsageCheck } from "../../../src/capabilities/metrics/checks/disk-usage.ts";
import { MEMORY_PATH, memoryCheck } from "../../../src/capabilities/metrics/checks/memory.ts";
import { netCollector } from "../../../src/capabilities/metrics/checks/net-collector.ts";
import { TRAFFIC_PATH, netSender } from "../../../src/capabilities/metrics/checks/net.ts";
import { STATUS_PATH, statusCheck } from "../../../src/capabilities/metrics/checks/status.ts";
import { diskstatsLine, netDev, statLine, useMetricsHarness } from "./harness.ts";
import { readFixture } from "./fixtures.ts";

const harness = useMetricsHarness();
const noSignal = new AbortController().signal;

describe("cpu and memory", () => {
  test("cpu: the first run only takes a baseline; then busy % of the ticks between runs, stored and sent", async () => {
    const h = harness();
    const run = cpuCheck(h.ctx);
    h.write("stat", statLine(100, 100, 800));
    run(noSignal);
    expect(h.enqueued).toEqual([]);
    h.write("stat", statLine(130, 120, 850)); // 50 busy of 100
    await h.clock.advance(5_000);
    run(noSignal);
    expect(h.bodies(CPU_PATH)).toEqual([[{ timestamp: "2026-01-01T10:00:05.000Z", usage: 50 }]]);
    expect(h.enqueued[0]).toMatchObject({ method: "POST", priority: 80 });
    expect(h.state.sqlite.query('SELECT "timestamp", usage FROM cpu_samples').all()).toEqual([
      { timestamp: Date.UTC(2026, 0, 1, 10, 0, 5), usage: 50 },
    ]);
  });

  test("cpu: an idle machine sends usage 0 (not omitted); a missing /proc/stat is one warning, then it recovers", async () => {
    const h = harness();
    const run = cpuCheck(h.ctx);
    run(noSignal);
    run(noSignal);
    expect(h.records.filter((r) => r.level === "warn")).toHaveLength(1);
    h.write("stat", statLine(100, 100, 800));
    run(noSignal);
    h.write("stat", statLine(100, 100, 900));
    run(noSignal);
    expect(h.bodies(CPU_PATH)).toEqual([[{ timestamp: expect.any(String), usage: 0 }]]);
    expect(h.records.some((r) => r.level === "info" && r.message.includes("readable again"))).toBe(true);
  });

  test("memory: MemTotal − MemAvailable from a captured meminfo", () => {
    const h = harness();
    h.write("meminfo", "MemTotal: 1000 kB\nMemFree: 100 kB\nMemAvailable: 250 kB\nBuffers: 0 kB\nCached: 0 kB\n");
    memoryCheck(h.ctx)(noSignal);
    expect(h.bodies(MEMORY_PATH)).toEqual([[{ timestamp: "2026-01-01T10:00:00.000Z", usage: 75 }]]);
  });
});

describe("disk usage", () => {
  test("one row per real block mount; an unreadable mount is skipped with a warning, the others are sent", async () => {
    const h = harness();
    h.write("1/mountinfo", readFixture("proc", "server-b", "1", "mountinfo"));
    mkdirSync(join(h.sysRoot, "dev", "block"), { recursive: true });
    h.write("sys/dev/block/259:2/uevent", "MAJOR=259\nMINOR=2\nDEVNAME=nvme0n1p2\n");
    h.write("sys/dev/block/253:0/uevent", "DEVNAME=dm-0\n");
    h.statfsTable["/"] = { bsize: 4096, blocks: 1000, bfree: 400, bavail: 300 };
    h.statfsTable["/home"] = { bsize: 4096, blocks: 100, bfree: 100, bavail: 100 };
    await diskUsageCheck(h.ctx)(noSignal);
    const [body] = h.bodies(DISK_USAGE_PATH) as Record<string, unknown>[][];
    expect(body).toContainEqual({
      timestamp: "2026-01-01T10:00:00.000Z",
      device: "/dev/nvme0n1p2",
      usage: (600 / 900) * 100,
      total: 4096000,
      free: 1228800,
      used: 2457600,
    });
    // An empty file system: usage, used are 0 and present.
    expect(body).toContainEqual({
      timestamp: "2026-01-01T10:00:00.000Z",
      device: "/dev/dm-0",
      usage: 0,
      total: 409600,
      free: 409600,
      used: 0,
    });
    expect(body!.some((r) => r.device === "/dev/nvme0n1p1")).toBe(false); // /boot/efi has no statfs here
    expect(h.records.some((r) => r.level === "warn" && String(r.fields.source).includes("/boot/efi"))).toBe(true);
    expect(h.state.sqlite.query("SELECT COUNT(*) AS n FROM disk_usage_samples").get()).toEqual({ n: body!.length });
  });

  test("a statfs that hangs is cut off by the timeout, the other mounts are still sent, and it is not asked again while stuck", async () => {
    const h = harness();
    h.write("1/mountinfo", "28 1 8:1 / / rw - ext4 /dev/sda1 rw\n29 28 8:17 / /data rw - xfs /dev/sdb1 rw\n");
    h.statfsTable["/"] = { bsize: 4096, blocks: 1000, bfree: 400, bavail: 300 };
    h.hungMounts.add("/data");
    let calls = 0;
    const statfs = h.ctx.statfs!;
    h.ctx.statfs = (mp) => {
      if (mp === "/data") calls++;
      return statfs(mp);
    };
    const run = diskUsageCheck(h.ctx);
    const first = run(noSignal) as Promise<void>;
    await Promise.resolve();
    await h.clock.advance(5_000);
    await first;
    expect((h.bodies(DISK_USAGE_PATH)[0] as { device: string }[]).map((r) => r.device)).toEqual(["/dev/sda1"]);
    expect(h.records.find((r) => r.level === "warn")?.fields).toMatchObject({
      source: "statfs /data",
      error: "statfs did not answer within 5000 ms",
    });
    await run(noSignal); // still stuck: skipped at once, no second call piles up behind the first
    expect(calls).toBe(1);
    expect(h.bodies(DISK_USAGE_PATH)).toHaveLength(2);
  });

  test("the mount table is parsed again only when it changes: a new mount is in the next sample, a removed one gone", async () => {
    const h = harness();
    h.statfsTable["/"] = { bsize: 4096, blocks: 1000, bfree: 400, bavail: 300 };
    h.statfsTable["/data"] = { bsize: 4096, blocks: 2000, bfree: 1000, bavail: 900 };
    const devices = () => (h.bodies(DISK_USAGE_PATH).at(-1) as { device: string }[]).map((r) => r.device);
    const run = diskUsageCheck(h.ctx);
    h.write("1/mountinfo", "28 1 8:1 / / rw - ext4 /dev/sda1 rw\n");
    await run(noSignal);
    await run(noSignal); // the same table
    expect(devices()).toEqual(["/dev/sda1"]);
    h.write("1/mountinfo", "28 1 8:1 / / rw - ext4 /dev/sda1 rw\n29 28 8:17 / /data rw - xfs /dev/sdb1 rw\n");
    await run(noSignal);
    expect(devices()).toEqual(["/dev/sda1", "/dev/sdb1"]);
    h.write("1/mountinfo", "29 28 8:17 / /data rw - xfs /dev/sdb1 rw\n");
    await run(noSignal);
    expect(devices()).toEqual(["/dev/sdb1"]);
    expect(h.bodies(DISK_USAGE_PATH)).toHaveLength(4);
  });
});

describe("disk I/O collector", () => {
  function setBlock(h: ReturnType<typeof harness>, names: string[]) {
    rmSync(join(h.sysRoot, "block"), { recursive: true, force: true });
    for (const n of names) mkdirSync(join(h.sysRoot, "block", n), { recursive: true });
  }

  test("whole disks only, rates over the measured elapsed time, wraps and new disks give no sample", async () => {
    const h = harness();
    setBlock(h, ["sda", "nvme0n1", "loop0"]);
    const run = diskIoCollector(h.ctx);
    h.write(
      "diskstats",
      [
        diskstatsLine(8, 0, "sda", 1000, 2000),
        diskstatsLine(8, 1, "sda1", 900, 1900),
        diskstatsLine(259, 0, "nvme0n1", 5000, 5000),
        diskstatsLine(7, 0, "loop0", 1, 1),
      ].join("\n"),
    );
    run(noSignal);
    // 4 s really elapsed (the configured interval does not matter); nvme0n1's counters went back (reset);
    // sdb appeared; loop0 is virtual.
    await h.clock.advance(4_000);
    setBlock(h, ["sda", "nvme0n1", "sdb", "loop0"]);
    h.write(
      "diskstats",
      [
        diskstatsLine(8, 0, "sda", 1000 + 80, 2000 + 8),
        diskstatsLine(8, 1, "sda1", 990, 1900),
        diskstatsLine(259, 0, "nvme0n1", 10, 10),
        diskstatsLine(8, 16, "sdb", 7, 7),
        diskstatsLine(7, 0, "loop0", 100, 100),
      ].join("\n"),
    );
    run(noSignal);
    const rows = h.state.sqlite.query("SELECT device, read_bps, write_bps FROM disk_io_samples").all();
    expect(rows).toEqual([{ device: "sda", read_bps: (80 * 512) / 4, write_bps: (8 * 512) / 4 }]);
    // Next cycle: sdb and nvme0n1 have baselines now; sda vanished.
    await h.clock.advance(2_000);
    setBlock(h, ["nvme0n1", "sdb"]);
    h.write("diskstats", [diskstatsLine(259, 0, "nvme0n1", 10, 10), diskstatsLine(8, 16, "sdb", 7 + 4, 7)].join("\n"));
    run(noSignal);
    expect(
      h.state.sqlite
        .query('SELECT device, read_bps, write_bps FROM disk_io_samples WHERE "timestamp" = ?1 ORDER BY device')
        .all(h.clock.now()),
    ).toEqual([
      { device: "nvme0n1", read_bps: 0, write_bps: 0 },
      { device: "sdb", read_bps: (4 * 512) / 2, write_bps: 0 },
    ]);
    expect(h.enqueued).toEqual([]); // collectors store only
  });

  test("a missing /proc/diskstats (container) is a warning, not an error", () => {
    const h = harness();
    setBlock(h, ["sda"]);
    expect(() => diskIoCollector(h.ctx)(noSignal)).not.toThrow();
    expect(h.records.filter((r) => r.level === "warn").map((r) => r.fields.source)).toEqual([`${h.procRoot}/diskstats`]);
  });
});

describe("net collector", () => {
  test("enp0s3 is kept, lo and docker0 are not; a quiet NIC stores zeros; a 32-bit wrap gives no sample", async () => {
    const h = harness();
    for (const n of ["enp0s3", "eth1"]) mkdirSync(join(h.sysRoot, "class", "net", n, "device"), { recursive: true });
    const run = netCollector(h.ctx);
    const base = { rxBytes: 1000, rxPackets: 10, txBytes: 2000, txPackets: 20 };
    h.write(
      "net/dev",
      netDev([
        { name: "lo", ...base },
        { name: "enp0s3", ...base },
        { name: "eth1", ...base },
        { name: "docker0", ...base },
        { name: "wrapme", rxBytes: 4294967000, rxPackets: 10, txBytes: 10, txPackets: 1 },
      ]),
    );
    run(noSignal);
    await h.clock.advance(2_000);
    h.write(
      "net/dev",
      netDev([
        { name: "lo", ...base },
        { name: "enp0s3", rxBytes: 3000, rxPackets: 30, txBytes: 2000, txPackets: 20 },
        { name: "eth1", ...base },
        { name: "docker0", ...base },
        { name: "wrapme", rxBytes: 500, rxPackets: 12, txBytes: 20, txPackets: 2 },
      ]),
    );
    run(noSignal);
    const rows = h.state.sqlite.query("SELECT name, input_bps, input_pps, output_bps, output_pps FROM traffic_samples ORDER BY name").all();
    expect(rows).toEqual([
      { name: "enp0s3", input_bps: (2000 * 8) / 2, input_pps: 10, output_bps: 0, output_pps: 0 },
      { name: "eth1", input_bps: 0, input_pps: 0, output_bps: 0, output_pps: 0 },
    ]);
  });
});

describe("realtime senders", () => {
  test("disk-io aggregates exactly the last interval, never a sample twice, zeros included", async () => {
    const h = harness();
    const insert = h.state.sqlite.query('INSERT INTO disk_io_samples ("timestamp", device, read_bps, write_bps) VALUES (?1, ?2, ?3, ?4)');
    const t0 = h.clock.now();
    insert.run(t0 - 61_000, "sda", 999, 999); // outside the 60 s window
    insert.run(t0 - 60_000, "sda", 888, 888); // exactly at the lower bound: excluded (half-open window)
    insert.run(t0 - 30_000, "sda", 100, 0);
    insert.run(t0, "sda", 300, 0);
    insert.run(t0 - 10_000, "vdb", 0, 0);
    const run = diskIoSender(h.ctx, 60_000);
    run(noSignal);
    expect(h.bodies(DISK_IO_PATH)).toEqual([
      [
        {
          timestamp: "2026-01-01T10:00:00.000Z",
          device: "sda",
          peak_write_bps: 0,
          peak_read_bps: 300,
          avg_write_bps: 0,
          avg_read_bps: 200,
        },
        { timestamp: "2026-01-01T10:00:00.000Z", device: "vdb", peak_write_bps: 0, peak_read_bps: 0, avg_write_bps: 0, avg_read_bps: 0 },
      ],
    ]);
    // Run again 10 s later (a retry, or a second slot): only rows after the previous send count.
    await h.clock.advance(10_000);
    insert.run(h.clock.now(), "sda", 50, 50);
    run(noSignal);
    expect(h.bodies(DISK_IO_PATH)[1]).toEqual([
      { timestamp: "2026-01-01T10:00:10.000Z", device: "sda", peak_write_bps: 50, peak_read_bps: 50, avg_write_bps: 50, avg_read_bps: 50 },
    ]);
    await h.clock.advance(10_000);
    run(noSignal); // empty window: nothing sent (the reference sent `null`)
    expect(h.bodies(DISK_IO_PATH)).toHaveLength(2);
  });

  test("net sends every wire field per interface", () => {
    const h = harness();
    h.state.sqlite
      .query(
        'INSERT INTO traffic_samples ("timestamp", name, input_pps, input_bps, output_pps, output_bps) VALUES (?1, ?2, ?3, ?4, ?5, ?6)',
      )
      .run(h.clock.now() - 1000, "enp0s3", 1, 8, 0, 0);
    netSender(h.ctx, 5_000)(noSignal);
    expect(h.bodies(TRAFFIC_PATH)).toEqual([
      [
        {
          timestamp: "2026-01-01T10:00:00.000Z",
          name: "enp0s3",
          peak_input_pps: 1,
          peak_input_bps: 8,
          peak_output_pps: 0,
          peak_output_bps: 0,
          avg_input_pps: 1,
          avg_input_bps: 8,
          avg_output_pps: 0,
          avg_output_bps: 0,
        },
      ],
    ]);
  });
});

describe("status and alert", () => {
  test("status is a PATCH with no body; a second one is not queued while the first is undelivered", () => {
    const h = harness();
    // A real outbox row stands in for the undelivered heartbeat.
    const ids: number[] = [];
    h.ctx.enqueue = (item) => {
      h.enqueued.push(item);
      const id = Number(
        h.state.sqlite
          .query(
            "INSERT INTO outbox (priority, method, path, body, bytes, timeout_ms, created_at, attempts, next_attempt_at) VALUES (80, ?1, ?2, NULL, 1, 1000, 0, 0, 0)",
          )
          .run(item.method, item.path).lastInsertRowid,
      );
      ids.push(id);
      return id;
    };
    const run = statusCheck(h.ctx);
    run(noSignal);
    run(noSignal);
    expect(h.enqueued).toEqual([{ method: "PATCH", path: STATUS_PATH, priority: 80 }]);
    h.state.sqlite.query("DELETE FROM outbox WHERE id = ?1").run(ids[0]!);
    run(noSignal);
    expect(h.enqueued).toHaveLength(2);
  });

  test("alert asks the console to check rules from one interval ago", () => {
    const h = harness();
    alertCheck(h.ctx, 300_000)(noSignal);
    expect(h.enqueued).toEqual([
      {
        method: "POST",
        path: ALERT_PATH,
        priority: 80,
        body: { timestamp: "2026-01-01T09:55:00.000Z", reporter: "alpamon", record: "alert", description: "Alert: detected anomaly" },
      },
    ]);
  });
});
