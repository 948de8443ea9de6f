// Benchmark: command round trips through the fake console and the real agent process.
// Measures (1) 1,000 sequential `ping` commands, time from the console pushing the command to the console
// receiving its fin, p50/p99; (2) 500 commands pushed at once, all fins counted (none may be lost).
// Run: node_modules/.bin/bun bench/ping.ts            (agent from source)
//      ALPAMON_BIN=dist/alpamon-linux-x64 node_modules/.bin/bun bench/ping.ts   (compiled binary)
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FakeConsole } from "../test/console/fake-console.ts";
import { startAgent, writeAgentConfig } from "../test/helpers/agent.ts";

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

const fake = await FakeConsole.start();
const dir = mkdtempSync(join(tmpdir(), "alpamon-bench-"));
const bin = process.env.ALPAMON_BIN;
const agent = bin
  ? Bun.spawn([bin, "--config", writeAgentConfig(fake, dir)], { stdin: "ignore", stdout: "ignore", stderr: "ignore" })
  : startAgent(fake, dir).proc;
try {
  await fake.waitForBackhaul(30_000);
  // Warm-up, also learns the dialect.
  for (let i = 0; i < 20; i++) await fake.waitForFin(fake.sendCommand({ shell: "internal", line: "ping" }), 30_000);

  const latencies: number[] = [];
  for (let i = 0; i < 1000; i++) {
    const t0 = performance.now();
    await fake.waitForFin(fake.sendCommand({ shell: "internal", line: "ping" }), 30_000);
    latencies.push(performance.now() - t0);
  }
  latencies.sort((a, b) => a - b);

  // One waiter that counts fins (500 separate waiters would each rescan every request on every event).
  const before = fake.requests.length;
  const t0 = performance.now();
  const ids = new Set(Array.from({ length: 500 }, () => fake.sendCommand({ shell: "internal", line: "ping" })));
  const finished = new Map<string, boolean>();
  await fake.waitUntil(
    () => {
      // A request is recorded before it is answered, so rescan the burst's requests each time.
      for (let i = before; i < fake.requests.length; i++) {
        const r = fake.requests[i]!;
        const id = /^\/api\/events\/commands\/([^/]+)\/fin\/$/.exec(r.path)?.[1];
        if (id && ids.has(id) && r.status === 200) finished.set(id, (r.json as { success: boolean }).success);
      }
      return finished.size === ids.size;
    },
    120_000,
    "500 fins",
  );
  const burstMs = performance.now() - t0;
  const fins = [...finished.values()];
  const ok = fins.filter(Boolean).length;

  console.log(`agent: ${bin ?? "bun src/main.ts"}`);
  console.log(
    `sequential ping x1000: p50 ${percentile(latencies, 50).toFixed(2)} ms, p99 ${percentile(latencies, 99).toFixed(2)} ms, max ${latencies.at(-1)!.toFixed(2)} ms`,
  );
  console.log(`concurrent ping x500: ${ok}/500 fins with success, ${ids.size - fins.length} lost, all in ${burstMs.toFixed(0)} ms`);
} finally {
  agent.kill("SIGKILL");
  await agent.exited;
  await fake.stop();
  rmSync(dir, { recursive: true, force: true });
}
