// Benchmark: inventory cost on this machine against the fake console (real ConsoleHttp + durable Outbox), for
// the 2026 dialect (hash-checked sync: sync-check, X-Sync-Hash) and the 2025 one (no sync-check: our per-key
// hash skip). Measures collection alone, then per dialect a full commit, a first sync into an empty console, a
// steady-state cycle (the periodic sync: every key, nothing changed) and, for 2025, a steady-state cycle with a
// full compare (what every sync cost without any hashes): wall time until the outbox is empty, requests the
// console saw, and processes started. Collection is also measured through the agent's helper process
// (ALPAMON_BIN=<compiled binary>; from source without it): one process here, the helper; its own three
// are not counted.
// Run: [ALPAMON_BIN=dist/alpamon-linux-x64] node_modules/.bin/bun bench/inventory.ts
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConsoleHttp } from "../src/console/http.ts";
import { Outbox } from "../src/console/outbox/outbox.ts";
import { openStateDb } from "../src/db/open.ts";
import { runProcess } from "../src/exec/run.ts";
import type { RunOptions } from "../src/exec/types.ts";
import { collectSnapshot } from "../src/capabilities/inventory/collect.ts";
import { inventoryHelper } from "../src/capabilities/inventory/collect-process.ts";
import { Inventory } from "../src/capabilities/inventory/inventory.ts";
import { SYNC_KEYS } from "../src/capabilities/inventory/keys.ts";
import { SNAPSHOT_KEYS } from "../src/capabilities/inventory/types.ts";
import { LogHub } from "../src/log/logger.ts";
import { systemClock } from "../src/platform/clock.ts";
import { FakeConsole, type Dialect } from "../test/console/fake-console.ts";
import { ProcConsole } from "../test/capabilities/inventory/proc-console.ts";

const ROUNDS = 10;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

let spawned = 0;
const countingRun = (o: RunOptions) => {
  spawned++;
  return runProcess(o);
};
const env = { runProcess: countingRun };
const log = new LogHub({ write: () => {}, close: () => {} }, "error").logger("bench");

async function measure(fake: FakeConsole, outbox: Outbox | undefined, label: string, work: () => Promise<unknown>, rounds = 1) {
  const times: number[] = [];
  const requests: number[] = [];
  const processes: number[] = [];
  let methods = "";
  for (let i = 0; i < rounds; i++) {
    const before = fake.requests.length;
    const spawnedBefore = spawned;
    const t0 = performance.now();
    await work();
    if (outbox && !(await outbox.drain(60_000))) throw new Error("outbox did not drain");
    times.push(performance.now() - t0);
    const seen = fake.requests.slice(before);
    requests.push(seen.length);
    processes.push(spawned - spawnedBefore);
    const counts = new Map<string, number>();
    for (const r of seen) counts.set(`${r.method} ${r.path}`, (counts.get(`${r.method} ${r.path}`) ?? 0) + 1);
    methods = [...counts].map(([m, n]) => (n > 1 ? `${m} x${n}` : m)).join(", ");
    if (methods.length > 90) methods = `${[...counts].length} distinct`;
  }
  const t =
    rounds > 1
      ? `median ${median(times).toFixed(1)} ms (min ${Math.min(...times).toFixed(1)}, max ${Math.max(...times).toFixed(1)}) over ${rounds}`
      : `${times[0]!.toFixed(1)} ms`;
  console.log(`${label.padEnd(44)} ${t}; requests ${median(requests)} (${methods || "none"}); processes ${median(processes)}`);
}

async function dialect(name: Dialect): Promise<void> {
  const fake = await FakeConsole.start({ dialect: name });
  const proc = name === "2026" ? undefined : new ProcConsole(fake);
  const dir = mkdtempSync(join(tmpdir(), "alpamon-bench-"));
  const state = openStateDb(join(dir, "alpamon.db"));
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
  try {
    console.log(`\n${name} console`);
    const inventory = new Inventory({ http, outbox, state, log, clock: systemClock, version: "bench", env });
    await measure(fake, outbox, "full commit (sync-check + PUT + event)", () => inventory.commit());
    const body = fake.state.lastCommit as Record<string, Record<string, unknown>>;
    console.log(
      `  commit body: ${JSON.stringify(body).length} bytes${body.packages ? `, with ${Object.keys(body.packages).length} packages` : ", no packages"}`,
    );
    if (proc) for (const key of ["info", "os", "time"]) proc.seed(key, body[key]!);
    const cycle = () => inventory.sync([...SYNC_KEYS]); // what the periodic sync does (no access-policy fetch)
    await measure(fake, outbox, "first sync into the console", cycle);
    await measure(fake, outbox, "steady-state cycle (nothing changed)", cycle, ROUNDS);
    if (name !== "2026") {
      const fullCompare = new Inventory({ http, outbox, state, log, clock: systemClock, version: "bench", env, fullResyncMs: 0 });
      await measure(fake, outbox, "steady-state cycle (full compare, no hashes)", () => fullCompare.sync([...SYNC_KEYS]), ROUNDS);
    }
  } finally {
    await outbox.stop();
    state.close();
    await fake.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

const collectEnv = { procRoot: "/proc", sysRoot: "/sys", root: "/", runProcess: countingRun, now: Date.now, version: "bench" };
const idle = await FakeConsole.start();
try {
  await measure(idle, undefined, "collect everything (no console)", () => collectSnapshot(collectEnv, log), ROUNDS);
  // As the agent collects: in its helper process (the compiled binary from ALPAMON_BIN, else Bun and main.ts).
  const bin = process.env.ALPAMON_BIN;
  const helper = inventoryHelper({
    runProcess: countingRun,
    argv: (args) => (bin ? [bin, ...args] : [process.execPath, join(import.meta.dir, "../src/main.ts"), ...args]),
    log,
    dataDir: tmpdir(),
  });
  const label = `collect everything in the helper (${bin ? "compiled" : "from source"})`;
  await measure(idle, undefined, label, () => helper.collect(SNAPSHOT_KEYS), ROUNDS);
} finally {
  await idle.stop();
}
const snapshot = await collectSnapshot(collectEnv, log);
console.log(
  `  rows: users ${snapshot.users?.length}, groups ${snapshot.groups?.length}, packages ${snapshot.packages?.length}, interfaces ${snapshot.interfaces?.length}, partitions ${snapshot.partitions?.length}`,
);
await dialect("2026");
await dialect("2025");
