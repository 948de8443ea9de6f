// Benchmark (issue 23): download (console → host) and upload (host → console) through the COMPILED agent,
// run as a separate process against the fake console (in this process, which sends the commands and takes the
// fins), versus curl moving the same bytes from and to the same loopback content server, side by side in each
// round. The content server is cheap on purpose (downloads are a file sent with sendfile, uploads are counted
// and dropped), so the peer is rarely the bottleneck. The agent's and the worker's memory and CPU are read from /proc from outside: the agent's
// peak RSS growth is VmHWM after a reset (clear_refs) minus its RSS before the transfer; the worker's peak is
// its own VmHWM, sampled every 5 ms until it exits, against a worker that moved a few bytes.
// Run: node_modules/.bin/bun bench/files.ts [runs=5] [sizes MiB=100,1024]
//      (ALPAMON_BIN=<compiled binary>, default dist/alpamon-linux-x64; `bun build.ts` makes it)
//  or: node_modules/.bin/bun bench/files.ts floors [runs=3]: Bun's own floors beside curl, 1 GiB over loopback
//      (fetch reading a body; POST of a JavaScript stream, of a pipe, of a file; the Content-Length rewrite).
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync, writeSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { FakeConsole } from "../test/console/fake-console.ts";
import { agentArgv, spawnAgent } from "./lib.ts";

const MiB = 1024 * 1024;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const mib = (n: number) => (n / MiB).toFixed(1);
const load = () => loadavg()[0]!.toFixed(2);

function sh(argv: string[]): string {
  const p = Bun.spawnSync(argv, { stdout: "pipe", stderr: "pipe" });
  if (p.exitCode !== 0) throw new Error(`${argv.join(" ")}: ${p.stderr.toString()}`);
  return p.stdout.toString();
}

function status(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/status`, "utf8");
  } catch {
    return undefined;
  }
}
const kb = (text: string | undefined, field: string) =>
  Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(text ?? "")?.[1] ?? 0) * 1024;

/** utime+stime of the process itself, and cutime+cstime of its reaped children (the worker), in ms. */
function cpu(pid: number): { self: number; children: number } {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return { self: (Number(f[11]) + Number(f[12])) * 10, children: (Number(f[13]) + Number(f[14])) * 10 };
}

/** The agent's ftp-worker child, if one is running. */
function workerOf(agent: number): number | undefined {
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (readFileSync(`/proc/${name}/stat`, "utf8").split(") ")[1]!.split(" ")[1] !== String(agent)) continue;
      if (readFileSync(`/proc/${name}/cmdline`, "utf8").includes("ftp-worker")) return Number(name);
    } catch {
      // gone meanwhile
    }
  }
  return undefined;
}

interface Sample {
  ms: number;
  agentGrowth: number;
  workerPeak: number;
  agentCpuMs: number;
  workerCpuMs: number;
}

/** Runs `transfer` while watching the agent and its worker from outside. */
async function watched(agentPid: number, transfer: () => Promise<void>): Promise<Sample> {
  await Bun.sleep(300); // the last run's garbage settles before the baseline
  writeFileSync(`/proc/${agentPid}/clear_refs`, "5");
  const start = kb(status(agentPid), "VmRSS");
  const cpu0 = cpu(agentPid);
  let worker: number | undefined;
  let workerPeak = 0;
  let busy = true;
  const sampler = (async () => {
    while (busy) {
      worker ??= workerOf(agentPid);
      if (worker) workerPeak = Math.max(workerPeak, kb(status(worker), "VmHWM"));
      await Bun.sleep(5);
    }
  })();
  const t0 = performance.now();
  await transfer();
  const ms = performance.now() - t0;
  busy = false;
  await sampler;
  const cpu1 = cpu(agentPid);
  return {
    ms,
    agentGrowth: kb(status(agentPid), "VmHWM") - start,
    workerPeak,
    agentCpuMs: cpu1.self - cpu0.self,
    workerCpuMs: cpu1.children - cpu0.children,
  };
}

async function curl(args: string[]): Promise<{ ms: number; cpuMs: number }> {
  const t0 = performance.now();
  const p = Bun.spawn(["curl", "-sSf", ...args], { stdout: "ignore", stderr: "pipe" });
  if ((await p.exited) !== 0) throw new Error(`curl ${args.join(" ")}: ${await new Response(p.stderr).text()}`);
  const ms = performance.now() - t0;
  const usage = p.resourceUsage();
  const cpuMs = usage ? Number(usage.cpuTime.user + usage.cpuTime.system) / 1000 : 0;
  return { ms, cpuMs };
}

let scratchDir: string | undefined;
const scratch = () => {
  scratchDir ??= mkdtempSync(join(tmpdir(), "alpamon-bench-files-"));
  return scratchDir;
};
const blobs = new Map<number, string>();
/** A file of `size` bytes that does not compress to nothing, made once per size. */
function blob(size: number): string {
  let path = blobs.get(size);
  if (path) return path;
  path = join(scratch(), `blob-${size}`);
  const chunk = new Uint8Array(MiB);
  for (let i = 0; i < MiB; i++) chunk[i] = (i * 2654435761) >>> 24;
  const fd = openSync(path, "w");
  for (let off = 0; off < size; off += MiB) writeSync(fd, chunk, 0, Math.min(MiB, size - off));
  closeSync(fd);
  blobs.set(size, path);
  return path;
}

async function agentBench(runs: number, sizesMiB: number[]): Promise<void> {
  /**
   * The content server both peers use: GET /blob/<n> (a file, sent with sendfile), POST/PUT /up/<tag> (counted
   * and dropped). Its own loopback server in this process: the fake console caps request bodies at 128 MB.
   */
  const uploads = new Map<string, number>();
  const contentServer = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    maxRequestBodySize: Number.MAX_SAFE_INTEGER,
    idleTimeout: 120,
    async fetch(req) {
      const path = new URL(req.url).pathname;
      const get = /^\/blob\/(\d+)$/.exec(path);
      if (get && req.method === "GET") return new Response(Bun.file(blob(Number(get[1]))));
      if (!path.startsWith("/up/")) return new Response("not found", { status: 404 });
      let bytes = 0;
      for await (const chunk of req.body ?? []) bytes += chunk.length;
      uploads.set(path, bytes);
      return new Response("{}", { status: 201, headers: { "Content-Type": "application/json" } });
    },
  });
  const base = `http://127.0.0.1:${contentServer.port}`;
  const fake = await FakeConsole.start();
  const user = `abf${crypto.randomUUID().slice(0, 8)}`;
  sh(["useradd", "-m", "-U", "-s", "/bin/sh", user]);
  const home = `/home/${user}`;
  const dir = mkdtempSync(join(tmpdir(), "alpamon-bench-files-agent-"));
  const agent = spawnAgent(fake, dir);

  async function command(line: string, data: object): Promise<void> {
    const id = fake.sendCommand({ shell: "internal", line, data });
    const fin = await fake.waitForFin(id, 600_000);
    if (!fin.success) throw new Error(`${line}: ${fin.result}`);
  }

  const agentDownload = (size: number, name: string) =>
    command(`download ${home}/${name}`, {
      type: "url",
      content: `${base}/blob/${size}`,
      path: `${home}/${name}`,
      username: user,
      groupname: user,
      allow_overwrite: true,
    });
  const agentUpload = (name: string, tag: string) =>
    command("upload", { paths: [`${home}/${name}`], content: `${base}/up/${tag}`, username: user, groupname: user });

  try {
    await fake.waitForBackhaul(30_000);
    console.log(`files: ${agentArgv().join(" ")}, ${runs} rounds per size; load ${load()} at start`);
    // The first transfers after start pay for loading the file family, fetch and the worker's code: measured
    // apart, then 5 small ones give the fixed cost of a transfer (command, worker start, fin) against curl's.
    sh(["cp", blob(4096), `${home}/small.bin`]);
    sh(["chown", `${user}:${user}`, `${home}/small.bin`]);
    const cold = await watched(agent.pid, () => agentDownload(4096, "warm.bin"));
    const coldUp = await watched(agent.pid, () => agentUpload("small.bin", "cold"));
    console.log(
      `first transfers after start: 4 KiB download ${cold.ms.toFixed(0)} ms, agent +${mib(cold.agentGrowth)} MiB; ` +
        `4 KiB upload ${coldUp.ms.toFixed(0)} ms, agent +${mib(coldUp.agentGrowth)} MiB`,
    );
    const small: { down: number; up: number; curlDown: number; curlUp: number; workerPeak: number }[] = [];
    for (let round = 0; round < runs; round++) {
      const d = await watched(agent.pid, () => agentDownload(4096, "warm.bin"));
      const u = await watched(agent.pid, () => agentUpload("small.bin", `small-${round}`));
      const cd = await curl(["-o", `${home}/curl-small.bin`, `${base}/blob/4096`]);
      const cu = await curl(["-o", "/dev/null", "-F", `content=@${home}/small.bin`, `${base}/up/curl-small-${round}`]);
      small.push({ down: d.ms, up: u.ms, curlDown: cd.ms, curlUp: cu.ms, workerPeak: d.workerPeak });
    }
    const warm = { workerPeak: median(small.map((r) => r.workerPeak)) };
    console.log(
      `4 KiB, median of ${runs} (load ${load()}): download ${median(small.map((r) => r.down)).toFixed(0)} ms (curl ${median(small.map((r) => r.curlDown)).toFixed(0)} ms), ` +
        `upload ${median(small.map((r) => r.up)).toFixed(0)} ms (curl ${median(small.map((r) => r.curlUp)).toFixed(0)} ms); worker moving 4 KiB: peak RSS ${mib(warm.workerPeak)} MiB`,
    );

    for (const size of sizesMiB.map((s) => s * MiB)) {
      blob(size);
      sh(["cp", blob(size), `${home}/up.bin`]);
      sh(["chown", `${user}:${user}`, `${home}/up.bin`]);
      const rows: Record<"down" | "up", { agent: Sample; curl: { ms: number; cpuMs: number }; load: string }[]> = { down: [], up: [] };
      for (let round = 0; round < runs; round++) {
        rmSync(`${home}/down.bin`, { force: true });
        rmSync(`${home}/curl.bin`, { force: true });
        sh(["sync"]);
        // Alternate who goes first, so neither always meets the other's dirty pages being written back.
        const agentFirst = round % 2 === 0;
        const down = async () => {
          const l = load();
          let a: Sample | undefined;
          let c: { ms: number; cpuMs: number } | undefined;
          for (const who of agentFirst ? ["agent", "curl"] : ["curl", "agent"]) {
            if (who === "agent") a = await watched(agent.pid, () => agentDownload(size, "down.bin"));
            else c = await curl(["-o", `${home}/curl.bin`, `${base}/blob/${size}`]);
          }
          rows.down.push({ agent: a!, curl: c!, load: l });
        };
        const up = async () => {
          const l = load();
          let a: Sample | undefined;
          let c: { ms: number; cpuMs: number } | undefined;
          for (const who of agentFirst ? ["agent", "curl"] : ["curl", "agent"]) {
            if (who === "agent") a = await watched(agent.pid, () => agentUpload("up.bin", `agent-${round}`));
            else c = await curl(["-o", "/dev/null", "-F", `content=@${home}/up.bin`, `${base}/up/curl-${round}`]);
          }
          if (uploads.get(`/up/agent-${round}`)! < size) throw new Error("the agent's upload arrived short");
          rows.up.push({ agent: a!, curl: c!, load: l });
        };
        await down();
        await up();
        for (const [what, r] of [
          ["download", rows.down.at(-1)!],
          ["upload", rows.up.at(-1)!],
        ] as const)
          console.log(
            `  ${mib(size)} MiB ${what} round ${round + 1} (load ${r.load}): agent ${r.agent.ms.toFixed(0)} ms, curl ${r.curl.ms.toFixed(0)} ms ` +
              `(${(r.curl.ms / r.agent.ms).toFixed(2)}x curl's throughput); agent +${mib(r.agent.agentGrowth)} MiB, worker peak ${mib(r.agent.workerPeak)} MiB; ` +
              `CPU agent ${r.agent.agentCpuMs} ms, worker ${r.agent.workerCpuMs} ms, curl ${r.curl.cpuMs.toFixed(0)} ms`,
          );
      }
      for (const [what, list] of [
        ["download", rows.down],
        ["upload", rows.up],
      ] as const) {
        const a = median(list.map((r) => r.agent.ms));
        const c = median(list.map((r) => r.curl.ms));
        const ratios = list.map((r) => r.curl.ms / r.agent.ms);
        console.log(
          `${mib(size)} MiB ${what}, median of ${runs}: agent ${a.toFixed(0)} ms (${(size / MiB / (a / 1000)).toFixed(0)} MiB/s), ` +
            `curl ${c.toFixed(0)} ms (${(size / MiB / (c / 1000)).toFixed(0)} MiB/s), ratio ${median(ratios).toFixed(2)}x curl's throughput ` +
            `(${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)}); agent RSS growth ${mib(median(list.map((r) => r.agent.agentGrowth)))} MiB ` +
            `(max ${mib(Math.max(...list.map((r) => r.agent.agentGrowth)))}); worker peak ${mib(median(list.map((r) => r.agent.workerPeak)))} MiB ` +
            `(+${mib(median(list.map((r) => r.agent.workerPeak)) - warm.workerPeak)} over 4 KiB); CPU agent ${median(list.map((r) => r.agent.agentCpuMs))} ms, ` +
            `worker ${median(list.map((r) => r.agent.workerCpuMs))} ms, curl ${median(list.map((r) => r.curl.cpuMs)).toFixed(0)} ms; load ${list.map((r) => r.load).join(" ")}`,
        );
      }
    }
  } finally {
    agent.kill("SIGTERM");
    await agent.exited;
    await fake.stop();
    await contentServer.stop(true);
    Bun.spawnSync(["userdel", "-r", "-f", user]);
    rmSync(home, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
    if (scratchDir) rmSync(scratchDir, { recursive: true, force: true });
  }
}

/** A loopback server for the floors, in its own process: GET / is a 1 GiB file (sendfile), POST bodies are counted. */
async function floorServer(path: string): Promise<void> {
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    maxRequestBodySize: Number.MAX_SAFE_INTEGER,
    idleTimeout: 120,
    async fetch(req) {
      if (req.method === "GET") return new Response(Bun.file(path));
      let bytes = 0;
      for await (const chunk of req.body ?? []) bytes += chunk.length;
      return new Response(`${bytes} ${req.headers.get("content-length")}`);
    },
  });
  console.log(server.port);
  await new Promise(() => {});
}

/** One client operation of the floors, in its own process; prints {ms, cpuMs, growth, answer}. */
async function floorClient(mode: string, url: string, path: string): Promise<void> {
  Bun.gc(true);
  writeFileSync("/proc/self/clear_refs", "5");
  const start = kb(status(process.pid), "VmRSS");
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  let answer = "";
  if (mode === "get") {
    const reader = (await fetch(url)).body!.getReader();
    let bytes = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      bytes += value.length;
    }
    answer = String(bytes);
  } else if (mode === "file") {
    answer = await (await fetch(url, { method: "POST", body: Bun.file(path) })).text();
  } else {
    const source = Bun.spawn(["cat", path], { stdout: "pipe" });
    let body: ReadableStream<Uint8Array> = source.stdout;
    if (mode === "js-stream") {
      const reader = source.stdout.getReader();
      body = new ReadableStream<Uint8Array>(
        {
          async pull(controller) {
            const { done, value } = await reader.read();
            if (done) controller.close();
            else controller.enqueue(value);
          },
        },
        { highWaterMark: 0 },
      );
    }
    answer = await (await fetch(url, { method: "POST", body, duplex: "half" } as RequestInit)).text();
  }
  const ms = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  console.log(JSON.stringify({ ms, cpuMs: (cpu.user + cpu.system) / 1000, growth: kb(status(process.pid), "VmHWM") - start, answer }));
}

async function floors(runs: number): Promise<void> {
  const size = 1024 * MiB;
  const path = blob(size);
  const server = Bun.spawn([process.execPath, import.meta.path, "floor-server", path], { stdout: "pipe", stderr: "inherit" });
  try {
    const port = Number(
      Buffer.from((await server.stdout.getReader().read()).value!)
        .toString()
        .trim(),
    );
    const url = `http://127.0.0.1:${port}/`;
    const client = async (mode: string) => {
      const p = Bun.spawn([process.execPath, import.meta.path, "floor-client", mode, url, path], { stdout: "pipe", stderr: "inherit" });
      const out = await new Response(p.stdout).text();
      await p.exited;
      return JSON.parse(out) as { ms: number; cpuMs: number; growth: number; answer: string };
    };
    console.log(`floors: 1 GiB over loopback, ${runs} rounds, load ${load()} at start`);
    const rows: Record<string, { ms: number; cpuMs: number; growth: number }[]> = {};
    const add = (name: string, r: { ms: number; cpuMs: number; growth?: number }) => {
      rows[name] ??= [];
      rows[name].push({ growth: 0, ...r });
    };
    for (let round = 0; round < runs; round++) {
      add("curl GET to /dev/null", await curl(["-o", "/dev/null", url]));
      add("fetch GET, body read and dropped", await client("get"));
      add("curl -F POST", await curl(["-o", "/dev/null", "-F", `content=@${path}`, url]));
      add("fetch POST, JavaScript stream over a pipe", await client("js-stream"));
      add("fetch POST, the pipe itself as the body", await client("pipe"));
      add("fetch POST, Bun.file (sendfile)", await client("file"));
    }
    for (const [name, list] of Object.entries(rows))
      console.log(
        `${name}: ${median(list.map((r) => r.ms)).toFixed(0)} ms (${Math.min(...list.map((r) => r.ms)).toFixed(0)}-${Math.max(...list.map((r) => r.ms)).toFixed(0)}), ` +
          `CPU ${median(list.map((r) => r.cpuMs)).toFixed(0)} ms, peak RSS growth ${mib(median(list.map((r) => r.growth)))} MiB`,
      );
    // A stream body that has already ended when fetch sends it: does the declared Content-Length hold?
    const small = join(scratch(), "small");
    writeFileSync(small, Buffer.alloc(500, 65));
    const cat = Bun.spawn(["cat", small], { stdout: "pipe" });
    await cat.exited;
    let verdict: string;
    try {
      const answer = await (
        await fetch(url, { method: "POST", body: cat.stdout, headers: { "Content-Length": "1000" }, duplex: "half" } as RequestInit)
      ).text();
      verdict = `the server got a complete request: "<bytes> <content-length>" = "${answer}"`;
    } catch (err) {
      verdict = `the request failed: ${(err as Error).message}`;
    }
    console.log(`500 bytes from a finished pipe, declared as 1000: ${verdict}; load ${load()}`);
  } finally {
    server.kill();
    await server.exited;
    if (scratchDir) rmSync(scratchDir, { recursive: true, force: true });
  }
}

const mode = process.argv[2];
if (mode === "floor-server") await floorServer(process.argv[3]!);
else if (mode === "floor-client") await floorClient(process.argv[3]!, process.argv[4]!, process.argv[5]!);
else if (mode === "floors") await floors(Number(process.argv[3] ?? 3));
else await agentBench(Number(process.argv[2] ?? 5), (process.argv[3] ?? "100,1024").split(",").map(Number));
