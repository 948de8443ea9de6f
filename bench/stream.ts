// Streamed output (issue 19): a `system` command printing 100 MB, run by the real agent for a 2026 console
// (the fake console in this process, which takes every chunk/ POST), against the same command into /dev/null
// run directly. Reports the time to the last chunk and to the fin, as ratios to the direct run, and the
// agent's peak RSS growth while it streams (VmHWM after a reset) and the CPU time it spends. Repeated; medians.
// Run: node_modules/.bin/bun bench/stream.ts [runs=3] [megabytes=100]   (ALPAMON_BIN=<binary> or =src)
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { FakeConsole } from "../test/console/fake-console.ts";
import { watchRss } from "../test/hardening/rss.ts";
import { footprint, spawnAgent, TICKS_PER_SECOND } from "./lib.ts";

const runs = Number(process.argv[2] ?? 3);
const megabytes = Number(process.argv[3] ?? 100);
const bytes = megabytes * 1000 * 1000;
const line = `yes 'the quick brown fox jumps over the lazy dog, 0123456789' | head -c ${bytes}`;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const mib = (n: number) => (n / (1024 * 1024)).toFixed(1);

async function direct(): Promise<number> {
  const t0 = performance.now();
  const proc = Bun.spawn(["/bin/sh", "-c", `${line} > /dev/null`], { stdio: ["ignore", "ignore", "inherit"] });
  if ((await proc.exited) !== 0) throw new Error("the direct run failed");
  return performance.now() - t0;
}

async function waitUntil(what: string, ready: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!ready()) {
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(5);
  }
}

const fake = await FakeConsole.start({ dialect: "2026" });
const dir = mkdtempSync(join(tmpdir(), "alpamon-bench-stream-"));
const agent = spawnAgent(fake, dir);
try {
  await fake.waitForBackhaul(30_000);
  // Warm-up: the runner, the stream and the outbox path once, so the baseline includes their code.
  await fake.waitForFin(fake.sendCommand({ shell: "system", line: "yes | head -c 100000", user: "root", allow_sh: true }), 30_000);
  const rows: { direct: number; lastChunk: number; fin: number; growth: number; chunks: number; cpu: number }[] = [];
  for (let run = 0; run < runs; run++) {
    const directMs = await direct();
    await Bun.sleep(1_000); // the warm-up's or the last run's garbage settles before the baseline
    const rss = watchRss(agent.pid);
    const ticks = footprint(agent.pid).cpuTicks;
    const t0 = performance.now();
    const id = fake.sendCommand({ shell: "system", line, user: "root", allow_sh: true });
    const streamed = () => fake.chunks(id).reduce((n, c) => n + c.content.length, 0);
    let lastChunk = 0;
    await waitUntil(
      "every chunk",
      () => {
        const done = streamed() >= bytes;
        if (done) lastChunk = performance.now() - t0;
        return done;
      },
      600_000,
    );
    const fin = await fake.waitForFin(id, 600_000);
    if (!fin.success) throw new Error(`the command failed: ${fin.result.slice(0, 200)}`);
    const cpu = (footprint(agent.pid).cpuTicks - ticks) / TICKS_PER_SECOND;
    rows.push({ direct: directMs, lastChunk, fin: performance.now() - t0, growth: rss.growth(), chunks: fake.chunks(id).length, cpu });
    console.log(
      `run ${run + 1}: direct ${directMs.toFixed(0)} ms; last chunk ${lastChunk.toFixed(0)} ms (${(lastChunk / directMs).toFixed(1)}x); ` +
        `${rows.at(-1)!.chunks} chunks; peak RSS growth ${mib(rows.at(-1)!.growth)} MiB; agent CPU ${cpu.toFixed(1)} s`,
    );
  }
  const d = median(rows.map((r) => r.direct));
  const l = median(rows.map((r) => r.lastChunk));
  console.log(
    `median of ${runs}, ${megabytes} MB: direct ${d.toFixed(0)} ms, last chunk ${l.toFixed(0)} ms (${(l / d).toFixed(1)}x), ` +
      `fin ${median(rows.map((r) => r.fin)).toFixed(0)} ms, peak RSS growth ${mib(median(rows.map((r) => r.growth)))} MiB (max ${mib(Math.max(...rows.map((r) => r.growth)))}), ` +
      `agent CPU ${median(rows.map((r) => r.cpu)).toFixed(1)} s`,
  );
} finally {
  agent.kill("SIGTERM");
  await agent.exited;
  await fake.stop();
  rmSync(dir, { recursive: true, force: true });
}
