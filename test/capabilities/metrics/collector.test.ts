// The Collector driven directly with a real ConsoleHttp and a real Outbox against the fake console, on this
// host's /proc with 1-second intervals: endpoints, body shapes, sane values, the config fetch's retry/404/
// unknown-type behaviour, `restart collector`, a 20 s outage and an agent restart that lose no sample.
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConsoleHttp } from "../../../src/console/http.ts";
import { Outbox } from "../../../src/console/outbox/outbox.ts";
import { openStateDb, type StateDb } from "../../../src/db/open.ts";
import { LogHub, type LogRecord } from "../../../src/log/logger.ts";
import { systemClock } from "../../../src/platform/clock.ts";
import { CONFIG_PATH, Collector } from "../../../src/capabilities/metrics/collector.ts";
import { CHECK_TYPES, type CheckType } from "../../../src/capabilities/metrics/config.ts";
import { DAY_MS, HOUR_MS, dayStart, hourStart } from "../../../src/db/rollup.ts";
import { FakeConsole, type RecordedRequest } from "../../console/fake-console.ts";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Rig {
  fake: FakeConsole;
  dir: string;
  records: LogRecord[];
  /** Builds (or rebuilds, after stop) the state DB, outbox and collector on the same data dir. */
  boot(): { state: StateDb; outbox: Outbox; collector: Collector };
  /** Stops the collector and the outbox and closes the DB (an agent stop). */
  halt(): Promise<void>;
  current(): { state: StateDb; outbox: Outbox; collector: Collector };
}

async function rig(config: () => { status: number; body?: unknown }, opts: { recheckMs?: number } = {}): Promise<Rig> {
  const fake = await FakeConsole.start();
  cleanups.push(() => fake.stop());
  const dir = mkdtempSync(join(tmpdir(), "alpamon-collector-"));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  fake.route("GET", CONFIG_PATH, () => config());
  fake.route("POST", /^\/api\/metrics\//, () => ({ status: 201, body: {} }));
  fake.route("PATCH", "/api/servers/servers/-/status/", () => ({ status: 200, body: {} }));
  const records: LogRecord[] = [];
  const hub = new LogHub({ write: () => {}, close: () => {} }, "debug", () => Date.now());
  hub.listen((r) => records.push(r));
  const log = hub.logger("metrics");
  const http = new ConsoleHttp({
    serverUrl: fake.url,
    id: fake.id,
    key: fake.key,
    tls: { rejectUnauthorized: true },
    userAgent: "alpamon/test",
    log,
  });
  let parts: { state: StateDb; outbox: Outbox; collector: Collector } | undefined;
  const halt = async () => {
    if (!parts) return;
    await parts.collector.stop();
    await parts.outbox.stop();
    parts.state.close();
    parts = undefined;
  };
  cleanups.push(halt);
  return {
    fake,
    dir,
    records,
    boot() {
      const state = openStateDb(join(dir, "alpamon.db"));
      const outbox = new Outbox({ state, sender: http, log: hub.logger("outbox"), retry: { baseMs: 200, capMs: 1_000 } });
      const collector = new Collector({
        http,
        outbox,
        state,
        clock: systemClock,
        log,
        configRetry: { baseMs: 100, capMs: 400 },
        ...(opts.recheckMs ? { notFoundRecheckMs: opts.recheckMs } : {}),
      });
      outbox.start();
      collector.start();
      parts = { state, outbox, collector };
      return parts;
    },
    halt,
    current: () => parts!,
  };
}

const every = (types: readonly CheckType[], interval = 1) => types.map((type) => ({ type, interval }));
const delivered = (fake: FakeConsole, method: string, path: string) =>
  fake.requests.filter((r) => r.method === method && r.path === path && r.status !== undefined && r.status < 300);
const rowsOf = (r: RecordedRequest) => r.json as Record<string, unknown>[];
const isIso = (v: unknown) => typeof v === "string" && /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/.test(v);

function expectShape(rows: Record<string, unknown>[], keys: string[]) {
  expect(Array.isArray(rows)).toBe(true);
  expect(rows.length).toBeGreaterThan(0);
  for (const row of rows) {
    expect(Object.keys(row).sort()).toEqual(["timestamp", ...keys].sort());
    expect(isIso(row.timestamp)).toBe(true);
    for (const k of keys) if (k !== "device" && k !== "name") expect(Number.isFinite(row[k]) && (row[k] as number) >= 0).toBe(true);
  }
}

describe("Collector against the fake console", () => {
  test("all 20 check types: reference endpoints, body shapes and sane values", async () => {
    const r = await rig(() => ({ status: 200, body: every(CHECK_TYPES) }));
    // Samples of the previous hour and hourly rows of yesterday, so the roll-ups have something to send.
    const seed = openStateDb(join(r.dir, "alpamon.db"));
    const prevHour = hourStart(Date.now()) - HOUR_MS + 60_000;
    const yesterday = dayStart(Date.now()) - DAY_MS + HOUR_MS;
    const q = (sql: string, ...args: (string | number)[]) => seed.sqlite.query(sql).run(...args);
    q('INSERT INTO cpu_samples ("timestamp", usage) VALUES (?1, 12.5)', prevHour);
    q('INSERT INTO memory_samples ("timestamp", usage) VALUES (?1, 40)', prevHour);
    q(
      "INSERT INTO disk_usage_samples (\"timestamp\", device, mount_point, usage, total, free, used) VALUES (?1, '/dev/vdz', '/', 50, 100, 50, 50)",
      prevHour,
    );
    q("INSERT INTO disk_io_samples (\"timestamp\", device, read_bps, write_bps) VALUES (?1, 'vdz', 0, 512)", prevHour);
    q(
      "INSERT INTO traffic_samples (\"timestamp\", name, input_pps, input_bps, output_pps, output_bps) VALUES (?1, 'eth9', 1, 8, 0, 0)",
      prevHour,
    );
    q('INSERT INTO hourly_cpu ("timestamp", peak, avg) VALUES (?1, 80, 20)', yesterday);
    q('INSERT INTO hourly_memory ("timestamp", peak, avg) VALUES (?1, 70, 30)', yesterday);
    q(
      "INSERT INTO hourly_disk_usage (\"timestamp\", device, peak, avg, total, free, used) VALUES (?1, '/dev/vdz', 60, 50, 100, 40, 60)",
      yesterday,
    );
    q(
      "INSERT INTO hourly_disk_io (\"timestamp\", device, peak_read_bps, peak_write_bps, avg_read_bps, avg_write_bps) VALUES (?1, 'vdz', 1, 2, 0.5, 1)",
      yesterday,
    );
    q(
      "INSERT INTO hourly_traffic (\"timestamp\", name, peak_input_pps, peak_input_bps, peak_output_pps, peak_output_bps, avg_input_pps, avg_input_bps, avg_output_pps, avg_output_bps) VALUES (?1, 'eth9', 1, 8, 0, 0, 1, 8, 0, 0)",
      yesterday,
    );
    seed.close();

    const { collector } = r.boot();
    const paths = [
      "realtime/cpu",
      "realtime/memory",
      "realtime/disk-usage",
      "realtime/disk-io",
      "realtime/traffic",
      "hourly/cpu",
      "hourly/memory",
      "hourly/disk-usage",
      "hourly/disk-io",
      "hourly/traffic",
      "daily/cpu",
      "daily/memory",
      "daily/disk-usage",
      "daily/disk-io",
      "daily/traffic",
    ].map((p) => `/api/metrics/${p}/`);
    await r.fake.waitUntil(
      () =>
        paths.every((p) => delivered(r.fake, "POST", p).length > 0) &&
        delivered(r.fake, "POST", "/api/metrics/alert-rules/check/").length > 0 &&
        delivered(r.fake, "PATCH", "/api/servers/servers/-/status/").length > 0,
      15_000,
      "every metric endpoint",
    );
    expect(collector.state).toBe("running");
    expect(collector.tasks).toHaveLength(20);

    const first = (p: string) => rowsOf(delivered(r.fake, "POST", `/api/metrics/${p}/`)[0]!);
    const cpu = first("realtime/cpu");
    expectShape(cpu, ["usage"]);
    expect(cpu[0]!.usage as number).toBeLessThanOrEqual(100);
    expectShape(first("realtime/memory"), ["usage"]);
    expect(first("realtime/memory")[0]!.usage as number).toBeGreaterThan(0);
    const du = first("realtime/disk-usage");
    expectShape(du, ["device", "usage", "total", "free", "used"]);
    for (const d of du) {
      expect(String(d.device)).toStartWith("/dev/");
      expect(d.used as number).toBeLessThanOrEqual(d.total as number);
    }
    const io = ["peak_write_bps", "peak_read_bps", "avg_write_bps", "avg_read_bps"];
    expectShape(first("realtime/disk-io"), ["device", ...io]);
    const tr = [
      "peak_input_pps",
      "peak_input_bps",
      "peak_output_pps",
      "peak_output_bps",
      "avg_input_pps",
      "avg_input_bps",
      "avg_output_pps",
      "avg_output_bps",
    ];
    const traffic = first("realtime/traffic");
    expectShape(traffic, ["name", ...tr]);
    expect(traffic.some((t) => t.name === "lo")).toBe(false);
    // A 10 Gbit/s ceiling is generous for a test VM's loopback-only traffic; a wrap would be ~1e19.
    for (const t of traffic) expect(t.peak_input_bps as number).toBeLessThan(1e10);

    const hourBody = [{ timestamp: new Date(hourStart(Date.now())).toISOString(), peak: 12.5, avg: 12.5 }];
    const hourlyCpu = () => delivered(r.fake, "POST", "/api/metrics/hourly/cpu/").map(rowsOf);
    await r.fake.waitUntil(() => hourlyCpu().some((b) => Bun.deepEquals(b, hourBody)), 5_000, "the previous hour's cpu roll-up");
    // The seeded hourly row of yesterday had not been sent either, so it goes too (first, oldest first).
    expect(hourlyCpu()[0]).toEqual([{ timestamp: new Date(dayStart(Date.now()) - DAY_MS + 2 * HOUR_MS).toISOString(), peak: 80, avg: 20 }]);
    expectShape(first("hourly/memory"), ["peak", "avg"]);
    expectShape(first("hourly/disk-usage"), ["device", "peak", "avg", "total", "free", "used"]);
    expectShape(first("hourly/disk-io"), ["device", ...io]);
    expectShape(first("hourly/traffic"), ["name", ...tr]);
    // (avg is not pinned: in the first UTC hour of a day the seeded previous hour belongs to yesterday too.)
    expect(first("daily/cpu")).toEqual([{ timestamp: new Date(dayStart(Date.now())).toISOString(), peak: 80, avg: expect.any(Number) }]);
    expectShape(first("daily/memory"), ["peak", "avg"]);
    expectShape(first("daily/disk-usage"), ["device", "peak", "avg", "total", "free", "used"]);
    expectShape(first("daily/disk-io"), ["device", ...io]);
    expectShape(first("daily/traffic"), ["name", ...tr]);

    const status = delivered(r.fake, "PATCH", "/api/servers/servers/-/status/")[0]!;
    expect(status.body).toBe("");
    const alert = delivered(r.fake, "POST", "/api/metrics/alert-rules/check/")[0]!.json as Record<string, unknown>;
    expect(alert).toMatchObject({ reporter: "alpamon", record: "alert", description: "Alert: detected anomaly" });
    expect(isIso(alert.timestamp)).toBe(true);
    // Roll-ups are sent once per period however often their checks run.
    await Bun.sleep(1_500);
    expect(hourlyCpu().filter((b) => Bun.deepEquals(b, hourBody))).toHaveLength(1);
    expect(hourlyCpu()).toHaveLength(2);
    expect(delivered(r.fake, "POST", "/api/metrics/daily/cpu/")).toHaveLength(1);
  }, 30_000);

  test("config: unreachable → retried; malformed → warning and retried; unknown type skipped; others run", async () => {
    let answers = 0;
    const r = await rig(() => {
      answers++;
      if (answers === 1) return { status: 200, body: "{not json" };
      return {
        status: 200,
        body: [
          { type: "gpu", interval: 1 },
          { type: "memory", interval: 1 },
        ],
      };
    });
    r.fake.fault({ method: "GET", path: CONFIG_PATH }, { status: 503, times: 2 });
    const { collector } = r.boot();
    await r.fake.waitForRequest((q) => q.path === "/api/metrics/realtime/memory/" && q.status === 201, 10_000);
    expect(r.fake.requests.filter((q) => q.path === CONFIG_PATH).length).toBe(4);
    expect(collector.tasks).toEqual(["memory#1"]);
    const warns = r.records.filter((x) => x.level === "warn").map((x) => `${x.message} ${JSON.stringify(x.fields)}`);
    expect(warns.some((w) => w.includes("cannot get the metrics configuration") && w.includes("HTTP 503"))).toBe(true);
    expect(warns.some((w) => w.includes('unknown check type \\"gpu\\"'))).toBe(true);
    const debugs = r.records
      .filter((x) => x.level === "debug" && x.message.includes("still cannot get"))
      .map((x) => String(x.fields.problem));
    expect(debugs).toContain("metrics config is not JSON");
  }, 20_000);

  test("a 404 turns metrics off with one info line and re-checks later", async () => {
    let available = false;
    const r = await rig(
      () => (available ? { status: 200, body: [{ type: "cpu", interval: 1 }] } : { status: 404, body: { detail: "Not found." } }),
      { recheckMs: 300 },
    );
    const { collector } = r.boot();
    await r.fake.waitUntil(() => r.fake.requests.filter((q) => q.path === CONFIG_PATH).length >= 3, 5_000, "three config checks");
    expect(collector.state).toBe("disabled");
    expect(r.fake.requests.some((q) => q.path.startsWith("/api/metrics/realtime/"))).toBe(false);
    expect(r.records.filter((x) => x.message.includes("no metrics API")).map((x) => x.level)).toEqual(["info"]);
    expect(r.records.some((x) => x.level === "warn")).toBe(false);
    available = true;
    await r.fake.waitForRequest((q) => q.path === "/api/metrics/realtime/cpu/" && q.status === 201, 5_000);
    expect(collector.state).toBe("running");
  }, 15_000);

  test("restart collector re-fetches the configuration and rebuilds the checks", async () => {
    let config = [{ type: "cpu", interval: 1 }];
    const r = await rig(() => ({ status: 200, body: config }));
    const { collector } = r.boot();
    await r.fake.waitForRequest((q) => q.path === "/api/metrics/realtime/cpu/" && q.status === 201, 5_000);
    config = [{ type: "memory", interval: 1 }];
    await collector.restart();
    await r.fake.waitForRequest((q) => q.path === "/api/metrics/realtime/memory/" && q.status === 201, 5_000);
    expect(collector.tasks).toEqual(["memory#1"]);
    const cpuPosts = r.fake.requests.filter((q) => q.path === "/api/metrics/realtime/cpu/").length;
    await Bun.sleep(1_500);
    expect(r.fake.requests.filter((q) => q.path === "/api/metrics/realtime/cpu/").length).toBe(cpuPosts); // the old checks are gone
    expect(r.fake.requests.filter((q) => q.path === CONFIG_PATH)).toHaveLength(2);
  }, 15_000);

  test("a 20 s outage (503): every sample of the window arrives afterwards, each with its own timestamp", async () => {
    const r = await rig(() => ({
      status: 200,
      body: [
        { type: "cpu", interval: 1 },
        { type: "status", interval: 1 },
      ],
    }));
    const { state } = r.boot();
    await r.fake.waitForRequest((q) => q.path === "/api/metrics/realtime/cpu/" && q.status === 201, 5_000);
    const outage = r.fake.fault({ path: /^\/api\/(metrics|servers)\// }, { status: 503, forMs: 20_000 });
    cleanups.push(() => outage.clear());
    const from = Date.now();
    await Bun.sleep(20_000);
    const until = Date.now();
    // Samples taken during the outage, as stored locally.
    const taken = (
      state.sqlite
        .query('SELECT "timestamp" FROM cpu_samples WHERE "timestamp" > ?1 AND "timestamp" < ?2 ORDER BY "timestamp"')
        .all(from, until - 500) as { timestamp: number }[]
    ).map((x) => new Date(x.timestamp).toISOString());
    expect(taken.length).toBeGreaterThanOrEqual(17);
    await r.fake.waitUntil(
      () => {
        const got = new Set(
          delivered(r.fake, "POST", "/api/metrics/realtime/cpu/").flatMap((q) => rowsOf(q).map((x) => x.timestamp as string)),
        );
        return taken.length > 0 && taken.every((t) => got.has(t));
      },
      10_000,
      "every outage sample delivered",
    );
    const all = delivered(r.fake, "POST", "/api/metrics/realtime/cpu/").flatMap((q) => rowsOf(q).map((x) => x.timestamp as string));
    expect(all.length).toBeGreaterThanOrEqual(taken.length);
    expect(new Set(all).size).toBe(all.length); // distinct, none delivered twice
    // Heartbeats were not piled up: one was waiting during the outage, so the console gets one or two right
    // after it (the waiting one, maybe a fresh one), not twenty stale ones.
    const statusTries = r.fake.requests.filter((q) => q.method === "PATCH" && q.at >= from && q.at < until);
    expect(statusTries.length).toBeGreaterThan(0);
    const afterOutage = delivered(r.fake, "PATCH", "/api/servers/servers/-/status/").filter((q) => q.at >= until && q.at < until + 900);
    expect(afterOutage.length).toBeLessThanOrEqual(2);
  }, 45_000);

  test("an agent restart during an outage loses no queued sample", async () => {
    const r = await rig(() => ({ status: 200, body: [{ type: "cpu", interval: 1 }] }));
    const outage = r.fake.fault({ path: /^\/api\/metrics\/realtime\// }, { status: 503 });
    cleanups.push(() => outage.clear());
    const { state } = r.boot();
    await r.fake.waitUntil(
      () => (state.sqlite.query("SELECT COUNT(*) AS n FROM cpu_samples").get() as { n: number }).n >= 3,
      10_000,
      "three samples",
    );
    await r.halt();
    const reopened = r.boot();
    const taken = (reopened.state.sqlite.query('SELECT "timestamp" FROM cpu_samples').all() as { timestamp: number }[]).map((x) =>
      new Date(x.timestamp).toISOString(),
    );
    // The samples taken before the restart are still there (at least the three waited for): an empty list would
    // make the wait below true at once and prove nothing.
    expect(taken.length).toBeGreaterThanOrEqual(3);
    const before = delivered(r.fake, "POST", "/api/metrics/realtime/cpu/");
    expect(before).toEqual([]); // nothing got through the outage before the restart
    outage.clear();
    await r.fake.waitUntil(
      () => {
        const got = new Set(
          delivered(r.fake, "POST", "/api/metrics/realtime/cpu/").flatMap((q) => rowsOf(q).map((x) => x.timestamp as string)),
        );
        return taken.length > 0 && taken.every((t) => got.has(t));
      },
      10_000,
      "samples from before the restart delivered",
    );
    const all = delivered(r.fake, "POST", "/api/metrics/realtime/cpu/").flatMap((q) => rowsOf(q).map((x) => x.timestamp as string));
    expect(new Set(all).size).toBe(all.length); // none delivered twice across the restart
  }, 30_000);
});
