// Benchmark: 1 GB download (console → host) and upload (host → console) through the agent's transfer path
// (fileCommands handlers in this process + the file worker as a throwaway user) versus curl against the
// same loopback endpoint, in one run; prints times, ratios and peak RSS of this process and of the worker.
// Run: node_modules/.bin/bun bench/files.ts   (SIZE_MB=1024 by default; ALPAMON_BIN=<compiled binary> uses
// `<bin> ftp-worker` as the worker once src/cli.ts wires it)
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { ConsoleHttp } from "../src/console/http.ts";
import { spawnWorker } from "../src/exec/worker.ts";
import { fileCommands } from "../src/capabilities/files/commands.ts";
import { LogHub } from "../src/log/logger.ts";
import { context, prepareWorkerArgv } from "../test/capabilities/files/helpers.ts";
import { runnable } from "../test/helpers/commands.ts";

const SIZE = Number(process.env.SIZE_MB ?? 1024) * 1024 * 1024;
const log = new LogHub({ write: () => {}, close: () => {} }).logger();
const prepared = process.env.ALPAMON_BIN ? { argv: [process.env.ALPAMON_BIN, "ftp-worker"], cleanup: () => {} } : prepareWorkerArgv();
const workerArgv = () => prepared.argv;

function sh(argv: string[]): string {
  const p = Bun.spawnSync(argv, { stdout: "pipe", stderr: "pipe" });
  if (p.exitCode !== 0) throw new Error(`${argv.join(" ")}: ${p.stderr.toString()}`);
  return p.stdout.toString();
}

function vmHwm(pid: number): number {
  try {
    return Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
}

const user = `afb${crypto.randomUUID().slice(0, 8)}`;
sh(["useradd", "-m", "-U", "-s", "/bin/sh", user]);
const home = `/home/${user}`;
const server = Bun.spawn([process.execPath, join(import.meta.dir, "../test/capabilities/files/content-server-main.ts")], {
  stdout: "pipe",
  stderr: "inherit",
});
try {
  const reader = (server.stdout as ReadableStream<Uint8Array>).getReader();
  const first = Buffer.from((await reader.read()).value!)
    .toString()
    .split("\n")[0]!;
  const url = JSON.parse(first).url as string;
  void (async () => {
    while (!(await reader.read()).done);
  })();

  const workerPeaks: number[] = [];
  const spawn: typeof spawnWorker = (options) => {
    const w = spawnWorker(options);
    if ("error" in w) return w;
    let peak = 0;
    const t = setInterval(() => (peak = Math.max(peak, vmHwm(w.pid))), 10);
    void w.exited.then(() => {
      clearInterval(t);
      workerPeaks.push(peak);
    });
    return w;
  };
  const http = new ConsoleHttp({
    serverUrl: url,
    id: "bench",
    key: "bench",
    tls: { rejectUnauthorized: true },
    userAgent: "alpamon/bench",
    log,
  });
  const h = runnable(fileCommands({ http, enqueue: () => 1, userAgent: "alpamon/bench", log, workerArgv, spawnWorker: spawn }));

  const timed = async (run: () => Promise<unknown> | unknown) => {
    Bun.gc(true);
    const base = process.memoryUsage().rss;
    let peak = base;
    const t = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 10);
    const t0 = performance.now();
    const value = await run();
    const ms = performance.now() - t0;
    clearInterval(t);
    return { ms, growth: peak - base, peak, value };
  };

  // Warm-up: the first transfer pays for loading fetch, spawn and the worker's code.
  await h.download!.run(
    context("download", { username: user, type: "url", content: `${url}/blob/1048576`, path: "~/warm", allow_overwrite: true }),
  );

  const down = await timed(() =>
    h.download!.run(context("download", { username: user, type: "url", content: `${url}/blob/${SIZE}`, path: "~/agent.bin" })),
  );
  const downPeak = workerPeaks.at(-1)!;
  const curlDown = await timed(() => sh(["curl", "-sf", "-o", `${home}/curl.bin`, `${url}/blob/${SIZE}`]));
  sh(["chown", `${user}:${user}`, `${home}/curl.bin`]);
  const up = await timed(() => h.upload!.run(context("upload", { username: user, paths: ["agent.bin"], content: `${url}/up` })));
  const upPeak = workerPeaks.at(-1)!;
  const curlUp = await timed(() => sh(["curl", "-sf", "-o", "/dev/null", "-F", `content=@${home}/curl.bin`, `${url}/up`]));

  const mb = SIZE / 1024 / 1024;
  const row = (name: string, agent: typeof down, curl: typeof down, workerPeak: number) =>
    `${name.padEnd(9)} agent ${(agent.ms / 1000).toFixed(2)} s (${(mb / (agent.ms / 1000)).toFixed(0)} MB/s)  curl ${(curl.ms / 1000).toFixed(2)} s (${(mb / (curl.ms / 1000)).toFixed(0)} MB/s)  ratio ${(agent.ms / curl.ms).toFixed(2)}x  agent RSS +${(agent.growth / 1e6).toFixed(1)} MB (peak ${(agent.peak / 1e6).toFixed(0)} MB)  worker peak ${(workerPeak / 1e6).toFixed(1)} MB`;
  console.log(`files: ${mb} MiB each way over loopback HTTP`);
  console.log(row("download", down, curlDown, downPeak));
  console.log(row("upload", up, curlUp, upPeak));
  console.log(`results: download ${JSON.stringify(down.value)}, upload ${JSON.stringify(up.value)}`);
} finally {
  server.kill("SIGTERM");
  await server.exited;
  Bun.spawnSync(["userdel", "-r", "-f", user]);
  prepared.cleanup();
  rmSync(`${home}`, { recursive: true, force: true });
}
