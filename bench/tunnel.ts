// Benchmark: a tunnel through the COMPILED agent (spec/upstream-2026.md §8) against a direct loopback TCP connection,
// side by side in one run. The console's tunnel side (test/console/fake-tunnel.ts, an smux server) and a TCP echo
// server both live in this process; the agent relays each stream through its helper (as nobody when run as root).
// (1) Throughput: SIZE bytes sent and echoed back on one connection, direct and through the tunnel, alternating,
//     RUNS times; MB/s counts the bytes sent one way. CPU per MB (from /proc: utime+stime) of this process during
//     the direct transfer, and of the agent, its helper and this process during the tunnel transfer.
// (2) Latency: 64-byte ping-pongs, 2,000 per run, direct and through the tunnel; p50 and p99 round trip, and the
//     tunnel's added p50.
// (3) The floor: Bun's WebSocket client alone (a child process, no smux, no relay) echoing SIZE bytes sent by a Bun
//     server in this process in 32 KiB messages, RUNS times: what any agent on Bun pays for the WebSocket hop.
//   bun build.ts && node_modules/.bin/bun bench/tunnel.ts [runs=5]   (SIZE=268435456; ALPAMON_BIN=<binary> or =src)
import { chmodSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createConnection, type Socket } from "node:net";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { FakeConsole } from "../test/console/fake-console.ts";
import { type FakeStream, FakeTunnelConsole } from "../test/console/fake-tunnel.ts";
import { writeAgentConfig } from "../test/helpers/agent.ts";
import { echoServer, pattern } from "../test/capabilities/tunnel/tunnel-fixtures.ts";
import { agentArgv, descendants, footprint, TICKS_PER_SECOND } from "./lib.ts";

const FLOOR_CLIENT = "--ws-floor-client";
if (process.argv[2] === FLOOR_CLIENT) {
  // The floor's client: echo every message back, as the agent's WebSocket would carry it.
  const ws = new WebSocket(process.argv[3]!);
  ws.binaryType = "arraybuffer";
  ws.addEventListener("message", (event) => ws.send(event.data as ArrayBuffer));
  await new Promise((resolve) => ws.addEventListener("close", resolve));
  process.exit(0);
}

const RUNS = Number(process.argv[2] ?? 5);
const SIZE = Number(process.env.SIZE ?? 256 * 1024 * 1024);
const PINGS = 2_000;
const scratch = mkdtempSync(join(tmpdir(), "alpamon-bench-tunnel-"));
chmodSync(scratch, 0o711);

function safeTicks(pid: number): number {
  try {
    return footprint(pid).cpuTicks;
  } catch {
    return 0;
  }
}

const median = (v: number[]) => {
  const s = [...v].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;

/** A byte pipe both paths offer: write, and a callback per received chunk. */
interface Pipe {
  write(bytes: Uint8Array): Promise<void>;
  onData(fn: (bytes: Uint8Array) => void): void;
  end(): Promise<void>;
  ended: Promise<void>;
}

function tcpPipe(port: number): Promise<Pipe> {
  return new Promise((resolve) => {
    const sock: Socket = createConnection({ host: "127.0.0.1", port, noDelay: true, allowHalfOpen: true });
    const { promise: ended, resolve: done } = Promise.withResolvers<void>();
    sock.on("end", () => done());
    sock.once("connect", () =>
      resolve({
        write: (bytes) => (sock.write(bytes) ? Promise.resolve() : new Promise((r) => sock.once("drain", () => r()))),
        onData: (fn) => sock.on("data", fn),
        end: async () => void sock.end(),
        ended,
      }),
    );
  });
}

function tunnelPipe(stream: FakeStream): Pipe {
  let listener: (bytes: Uint8Array) => void = () => {};
  const ended = (async () => {
    for (let chunk = await stream.read(); chunk; chunk = await stream.read()) listener(chunk);
  })();
  return { write: (bytes) => stream.write(bytes), onData: (fn) => (listener = fn), end: () => stream.fin(), ended };
}

async function throughput(pipe: Pipe): Promise<number> {
  let received = 0;
  pipe.onData((b) => (received += b.length));
  const t0 = performance.now();
  for (const chunk of pattern(SIZE, 3)) await pipe.write(chunk);
  await pipe.end();
  await pipe.ended;
  if (received !== SIZE) throw new Error(`echoed ${received} of ${SIZE} bytes`);
  return SIZE / 1e6 / ((performance.now() - t0) / 1000);
}

async function latency(pipe: Pipe): Promise<number[]> {
  const message = new Uint8Array(64).fill(7);
  let got = 0;
  let wake: () => void = () => {};
  pipe.onData((b) => {
    got += b.length;
    if (got >= 64) wake();
  });
  const rtts: number[] = [];
  for (let i = 0; i < PINGS; i++) {
    got = 0;
    const back = new Promise<void>((r) => (wake = r));
    const t0 = performance.now();
    await pipe.write(message);
    await back;
    rtts.push(performance.now() - t0);
  }
  await pipe.end();
  await pipe.ended;
  return rtts.sort((a, b) => a - b);
}

/** The CPU ticks (utime + stime) of `pid`. */
function ticksOf(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return Number(fields[11]) + Number(fields[12]);
}

/** (3): Bun's WebSocket client alone echoing SIZE bytes; its CPU per MB is the WebSocket hop's floor. */
async function floor(): Promise<void> {
  const FRAME = 32 * 1024 + 8;
  let peer: import("bun").ServerWebSocket<unknown> | undefined;
  let received = 0;
  let wake: () => void = () => {};
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: (req, s) => (s.upgrade(req) ? undefined : new Response("no", { status: 400 })),
    websocket: {
      idleTimeout: 0,
      backpressureLimit: 64 << 20,
      open: (ws) => {
        peer = ws;
        wake();
      },
      message: (_ws, m) => {
        received += (m as Buffer).length;
        if (received >= SIZE) wake();
      },
      drain: () => wake(),
    },
  });
  const child = Bun.spawn([process.execPath, import.meta.path, FLOOR_CLIENT, `ws://127.0.0.1:${server.port}/`], {
    stdin: "ignore",
    stdout: "ignore",
    stderr: "inherit",
  });
  try {
    while (!peer) await new Promise<void>((resolve) => (wake = resolve));
    const frame = new Uint8Array(FRAME).fill(7);
    const rates: number[] = [];
    const clientCpu: number[] = [];
    for (let run = 1; run <= RUNS; run++) {
      received = 0;
      const load = loadavg()[0]!;
      const c0 = ticksOf(child.pid);
      const s0 = process.cpuUsage();
      const t0 = performance.now();
      for (let sent = 0; sent < SIZE; sent += FRAME) {
        while (peer.getBufferedAmount() > 1 << 20) await new Promise<void>((resolve) => (wake = resolve));
        peer.sendBinary(frame);
      }
      while (received < SIZE) await new Promise<void>((resolve) => (wake = resolve));
      const seconds = (performance.now() - t0) / 1000;
      const mb = SIZE / 1e6;
      const client = ((ticksOf(child.pid) - c0) * 1000) / TICKS_PER_SECOND / mb;
      const self = process.cpuUsage(s0);
      rates.push(mb / seconds);
      clientCpu.push(client);
      console.log(
        `floor run ${run}: load ${load.toFixed(2)}; Bun WebSocket client echo alone ${(mb / seconds).toFixed(0)} MB/s; CPU ms/MB: client ${client.toFixed(2)}, server ${((self.user + self.system) / 1000 / mb).toFixed(2)}`,
      );
    }
    console.log(`floor median: ${median(rates).toFixed(0)} MB/s, client CPU ${median(clientCpu).toFixed(2)} ms/MB`);
  } finally {
    peer?.close();
    child.kill();
    await child.exited;
    server.stop(true);
  }
}

const echo = await echoServer();
const fake = await FakeConsole.start();
const tun = new FakeTunnelConsole();
const dir = join(scratch, "agent");
const config = writeAgentConfig(fake, dir, { extraConfig: "[tunnel]\nload_limit = 100\n" });
chmodSync(dir, 0o711);
const agent = Bun.spawn([...agentArgv(), "--config", config], {
  cwd: "/",
  stdin: "ignore",
  stdout: "ignore",
  stderr: Bun.file(join(scratch, "agent.log")),
  env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: "/nonexistent-home" },
});
try {
  await fake.waitForBackhaul(30_000);
  const sid = "bench";
  const fin = await fake.waitForFin(
    fake.sendCommand({ shell: "internal", line: "opentunnel", data: { session_id: sid, url: tun.tunnelUrl(sid), target_port: echo.port } }),
    30_000,
  );
  if (!fin.success) throw new Error(fin.result);
  const conn = await tun.waitForConnection(sid, 30_000);
  console.log(`agent ${agentArgv().join(" ")}; ${cpus().length} cores (${cpus()[0]?.model}); load ${loadavg()[0]!.toFixed(2)}`);
  console.log(`${RUNS} runs; throughput ${SIZE / 2 ** 20} MiB echoed per run; latency ${PINGS} x 64-byte round trips per run`);
  const rows: { direct: number; tunnel: number; dp50: number; tp50: number; dp99: number; tp99: number }[] = [];
  const cpuRows: { agent: number; helper: number; console: number }[] = [];
  for (let run = 1; run <= RUNS; run++) {
    const load = loadavg()[0]!;
    const direct0 = process.cpuUsage();
    const direct = await throughput(await tcpPipe(echo.port));
    const directCpu = process.cpuUsage(direct0);
    const cpu = () => [agent.pid, ...descendants(agent.pid)].map((pid) => ({ pid, ticks: safeTicks(pid) }));
    const before = cpu();
    const self0 = process.cpuUsage();
    const w0 = performance.now();
    const tunnel = await throughput(tunnelPipe(await conn.open({})));
    const selfCpu = process.cpuUsage(self0);
    const selfMs = (selfCpu.user + selfCpu.system) / 1000;
    const wallMs = performance.now() - w0;
    const after = cpu();
    const spent = after.map((a) => ((a.ticks - (before.find((b) => b.pid === a.pid)?.ticks ?? 0)) * 1000) / TICKS_PER_SECOND);
    const mb = SIZE / 1e6;
    const perMb = (ms: number) => (ms / mb).toFixed(2);
    console.log(
      `  load ${load.toFixed(2)}; tunnel transfer: ${wallMs.toFixed(0)} ms wall; CPU ms/MB: agent ${perMb(spent[0]!)}, its helper ${spent
        .slice(1)
        .map(perMb)
        .join(
          ", ",
        )}, this process (console side and echo server) ${perMb(selfMs)}; direct: this process ${perMb((directCpu.user + directCpu.system) / 1000)}`,
    );
    cpuRows.push({ agent: spent[0]! / mb, helper: spent.slice(1).reduce((a, b) => a + b, 0) / mb, console: selfMs / mb });
    const d = await latency(await tcpPipe(echo.port));
    const t = await latency(tunnelPipe(await conn.open({})));
    const row = { direct, tunnel, dp50: pct(d, 50), tp50: pct(t, 50), dp99: pct(d, 99), tp99: pct(t, 99) };
    rows.push(row);
    console.log(
      `run ${run}: direct ${direct.toFixed(0)} MB/s, tunnel ${tunnel.toFixed(0)} MB/s (${(tunnel / direct).toFixed(2)}x); ` +
        `RTT p50 ${row.dp50.toFixed(3)} → ${row.tp50.toFixed(3)} ms (+${(row.tp50 - row.dp50).toFixed(3)}), p99 ${row.dp99.toFixed(3)} → ${row.tp99.toFixed(3)} ms`,
    );
  }
  const ratio = median(rows.map((r) => r.tunnel / r.direct));
  const added = median(rows.map((r) => r.tp50 - r.dp50));
  console.log(
    `median: direct ${median(rows.map((r) => r.direct)).toFixed(0)} MB/s, tunnel ${median(rows.map((r) => r.tunnel)).toFixed(0)} MB/s, ratio ${ratio.toFixed(2)}x (goal >= 0.7); added p50 ${added.toFixed(3)} ms (goal <= 1)`,
  );
  console.log(
    `median CPU ms/MB echoed: agent ${median(cpuRows.map((r) => r.agent)).toFixed(2)}, helper ${median(cpuRows.map((r) => r.helper)).toFixed(2)}, console side and echo server ${median(cpuRows.map((r) => r.console)).toFixed(2)}`,
  );
  await floor();
} finally {
  agent.kill("SIGTERM");
  await agent.exited;
  tun.stop();
  await fake.stop();
  echo.close();
  rmSync(scratch, { recursive: true, force: true });
}
