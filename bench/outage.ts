// The console unreachable for N minutes while the agent samples every 5 s, then back: rows and bytes the
// outbox holds, the state DB's size on disk, time from the console's return until the outbox is empty, and
// realtime samples lost (gaps in the cpu and memory series the console finally received). "Unreachable" is
// every request and handshake answered by closing the connection (the fake console's drop fault).
// Run: node_modules/.bin/bun bench/outage.ts [minutes=30] [warmupSeconds=30]   (ALPAMON_BIN as in bench/lib.ts)
import { Database } from "bun:sqlite";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FakeConsole } from "../test/console/fake-console.ts";
import { footprint, mb, routeMetrics, spawnAgent } from "./lib.ts";

const SERIES = ["/api/metrics/realtime/cpu/", "/api/metrics/realtime/memory/"];
const INTERVAL_MS = 5_000;

export interface OutageResult {
  minutes: number;
  peakRows: number;
  peakBytes: number;
  peakDiskBytes: number;
  drainSeconds: number | undefined;
  received: Record<string, number>;
  lost: Record<string, number>;
  droppedLogLines: number;
  peakRss: number;
  /** HTTP requests and backhaul handshakes the agent tried while the console was down (all dropped). */
  requestsDuringOutage: number;
  handshakesDuringOutage: number;
}

function diskBytes(db: string): number {
  return ["", "-wal", "-shm"].reduce((sum, ext) => sum + (existsSync(db + ext) ? statSync(db + ext).size : 0), 0);
}

/** Samples missing from a series: every gap longer than 1.5 intervals lost round(gap/interval) − 1 samples. */
function missing(timestamps: number[]): number {
  const sorted = [...new Set(timestamps)].sort((a, b) => a - b);
  let lost = 0;
  for (let i = 1; i < sorted.length; i++) {
    const gap = sorted[i]! - sorted[i - 1]!;
    if (gap > INTERVAL_MS * 1.5) lost += Math.round(gap / INTERVAL_MS) - 1;
  }
  return lost;
}

export async function outage(minutes: number, warmupSeconds: number, log = console.log): Promise<OutageResult> {
  const fake = await FakeConsole.start();
  routeMetrics(fake);
  const dir = mkdtempSync(join(tmpdir(), "alpamon-outage-"));
  const agent = spawnAgent(fake, dir);
  const dbPath = join(dir, "state", "alpamon.db");
  let db: Database | undefined;
  try {
    await fake.waitForBackhaul(30_000);
    await Bun.sleep(warmupSeconds * 1000);
    db = new Database(dbPath, { readonly: true });
    const queued = db.query<{ rows: number; bytes: number | null }, []>("SELECT count(*) AS rows, sum(bytes) AS bytes FROM outbox");
    const down = fake.fault({ path: /.*/ }, { drop: true });
    fake.dropBackhaul();
    const outageStart = Date.now();
    let peakRows = 0;
    let peakBytes = 0;
    let peakDiskBytes = 0;
    let peakRss = 0;
    while (Date.now() - outageStart < minutes * 60_000) {
      await Bun.sleep(Math.min(10_000, outageStart + minutes * 60_000 - Date.now()));
      const q = queued.get()!;
      peakRows = Math.max(peakRows, q.rows);
      peakBytes = Math.max(peakBytes, q.bytes ?? 0);
      peakDiskBytes = Math.max(peakDiskBytes, diskBytes(dbPath));
      peakRss = Math.max(peakRss, footprint(agent.pid).rss);
      const elapsed = Math.round((Date.now() - outageStart) / 1000);
      if (elapsed % 60 < 10)
        log(`  outage t=${elapsed}s: outbox ${q.rows} rows, ${q.bytes ?? 0} bytes; state DB ${mb(diskBytes(dbPath))} MB on disk`);
    }
    down.clear();
    const back = Date.now();
    let drainSeconds: number | undefined;
    while (Date.now() - back < 15 * 60_000) {
      if (queued.get()!.rows === 0) {
        drainSeconds = (Date.now() - back) / 1000;
        break;
      }
      await Bun.sleep(250);
    }
    await Bun.sleep(2 * INTERVAL_MS); // a couple of fresh samples after the drain, so a gap at the end would show
    const received: Record<string, number> = {};
    const lost: Record<string, number> = {};
    for (const path of SERIES) {
      const stamps = fake.requests
        .filter((r) => r.path === path && r.status !== undefined && r.status >= 200 && r.status < 300 && Array.isArray(r.json))
        .flatMap((r) => (r.json as { timestamp: string }[]).map((s) => Date.parse(s.timestamp)));
      received[path] = stamps.filter((t) => t >= outageStart && t <= back).length;
      lost[path] = missing(stamps);
    }
    const during = (at: number) => at > outageStart + 1_000 && at < back;
    const requestsDuringOutage = fake.requests.filter((r) => during(r.at) && r.path !== "/ws/servers/backhaul/").length;
    const handshakesDuringOutage = fake.handshakes.filter((h) => during(h.at)).length;
    const agentLog = readFileSync(join(dir, "agent.log"), "utf8");
    return {
      minutes,
      peakRows,
      peakBytes,
      peakDiskBytes,
      drainSeconds,
      received,
      lost,
      droppedLogLines: agentLog.split("\n").filter((l) => /outbox/.test(l) && /drop/i.test(l)).length,
      peakRss,
      requestsDuringOutage,
      handshakesDuringOutage,
    };
  } finally {
    db?.close();
    agent.kill("SIGTERM");
    await agent.exited;
    await fake.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

export function printOutage(r: OutageResult, log = console.log): void {
  log(`outage of ${r.minutes} min with 5 s realtime checks:`);
  log(
    `  outbox peak ${r.peakRows} rows, ${(r.peakBytes / 1024).toFixed(0)} KiB of bodies; state DB peak ${mb(r.peakDiskBytes)} MB on disk (db + wal + shm); agent RSS peak ${mb(r.peakRss)} MB`,
  );
  log(`  drained ${r.drainSeconds === undefined ? "NOT within 15 min" : `${r.drainSeconds.toFixed(1)} s after the console came back`}`);
  for (const path of Object.keys(r.received)) {
    log(`  ${path}: ${r.received[path]} samples from the outage delivered, ${r.lost[path]} lost`);
  }
  log(`  outbox drop lines in the agent log: ${r.droppedLogLines}`);
  log(
    `  while down, the agent tried ${r.requestsDuringOutage} HTTP requests (${(r.requestsDuringOutage / (r.minutes * 60)).toFixed(2)}/s) and ${r.handshakesDuringOutage} backhaul handshakes`,
  );
}

if (import.meta.main) {
  printOutage(await outage(Number(process.argv[2] ?? 30), Number(process.argv[3] ?? 30)));
}
