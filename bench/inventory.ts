// Benchmark: inventory cost on this machine against the fake console (real ConsoleHttp + durable Outbox).
// Measures collection alone, a full commit, a first sync into an empty console, a steady-state sync
// (hash-skipped) and a steady-state sync with a full compare (what every sync cost without the hashes):
// wall time until the outbox is empty, requests the console saw, and processes started.
// Run: node_modules/.bin/bun bench/inventory.ts
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConsoleHttp } from "../src/console/http.ts";
import { Outbox } from "../src/console/outbox/outbox.ts";
import { openStateDb } from "../src/db/open.ts";
import { runProcess } from "../src/exec/run.ts";
import type { RunOptions } from "../src/exec/types.ts";
import { collectSnapshot } from "../src/capabilities/inventory/collect.ts";
import { Inventory } from "../src/capabilities/inventory/inventory.ts";
import { LogHub } from "../src/log/logger.ts";
import { systemClock } from "../src/platform/clock.ts";
import { FakeConsole } from "../test/console/fake-console.ts";
import { ProcConsole } from "../test/capabilities/inventory/proc-console.ts";

const ROUNDS = 10;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const fake = await FakeConsole.start();
const proc = new ProcConsole(fake);
const dir = mkdtempSync(join(tmpdir(), "alpamon-bench-"));
const state = openStateDb(join(dir, "alpamon.db"));
const log = new LogHub({ write: () => {}, close: () => {} }, "error").logger("bench");
let spawned = 0;
const countingRun = (o: RunOptions) => {
  spawned++;
  return runProcess(o);
};
const http = new ConsoleHttp({
  serverUrl: fake.url,
  id: fake.id,
  key: fake.key,
  tls: { rejectUnauthorized: true },
  userAgent: "alpamon/bench",
  log,
});
const outbox = new Outbox({ state, sender: http, log, clock: systemClock });
outbox.start();
const env = { runProcess: countingRun };

async function measure(label: string, work: () => Promise<unknown>, rounds = 1): Promise<void> {
  const times: number[] = [];
  const requests: number[] = [];
  const processes: number[] = [];
  let methods = "";
  for (let i = 0; i < rounds; i++) {
    const before = fake.requests.length;
    const spawnedBefore = spawned;
    const t0 = performance.now();
    await work();
    if (!(await outbox.drain(60_000))) throw new Error("outbox did not drain");
    times.push(performance.now() - t0);
    const seen = fake.requests.slice(before);
    requests.push(seen.length);
    processes.push(spawned - spawnedBefore);
    const counts = new Map<string, number>();
    for (const r of seen) counts.set(r.method, (counts.get(r.method) ?? 0) + 1);
    methods = [...counts].map(([m, n]) => `${m} ${n}`).join(", ");
  }
  const t =
    rounds > 1
      ? `median ${median(times).toFixed(1)} ms (min ${Math.min(...times).toFixed(1)}, max ${Math.max(...times).toFixed(1)}) over ${rounds}`
      : `${times[0]!.toFixed(1)} ms`;
  console.log(`${label.padEnd(38)} ${t}; requests ${median(requests)} (${methods || "none"}); processes ${median(processes)}`);
}

try {
  const collectEnv = { procRoot: "/proc", sysRoot: "/sys", root: "/", runProcess: countingRun, now: Date.now, version: "bench" };
  await measure("collect everything (no console)", () => collectSnapshot(collectEnv, log), ROUNDS);
  const snapshot = await collectSnapshot(collectEnv, log);
  console.log(
    `  rows: users ${snapshot.users?.length}, groups ${snapshot.groups?.length}, packages ${snapshot.packages?.length}, interfaces ${snapshot.interfaces?.length}, partitions ${snapshot.partitions?.length}`,
  );

  const inventory = new Inventory({ http, outbox, state, log, clock: systemClock, version: "bench", env });
  await measure("full commit (PUT + event)", () => inventory.commit());
  const body = fake.state.lastCommit;
  console.log(`  commit body: ${JSON.stringify(body).length} bytes`);
  const last = body as Record<string, Record<string, unknown>>;
  for (const key of ["info", "os", "time"]) proc.seed(key, last[key]!);

  await measure("first sync into an empty console", () => inventory.sync());
  await measure("steady-state sync (hashes)", () => inventory.sync(), ROUNDS);
  const fullCompare = new Inventory({ http, outbox, state, log, clock: systemClock, version: "bench", env, fullResyncMs: 0 });
  await measure("steady-state sync (full compare)", () => fullCompare.sync(), ROUNDS);
} finally {
  await outbox.stop();
  state.close();
  await fake.stop();
  rmSync(dir, { recursive: true, force: true });
}
