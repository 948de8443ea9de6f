// Benchmark: the websh PTY path (terminalCommands → real bash on a real PTY → PTY socket → fake console).
// Measures (1) a 100 MB burst through the agent's path versus the same burst through a raw PTY
// (`script -qc 'head -c 100000000 /dev/zero' /dev/null`), as a ratio from one run; (2) keystroke round trip
// (console → agent → PTY → `cat` → PTY → agent → console) p50/p99 over 1,000 echoes; (3) CPU of this process
// with 20 idle sessions over 60 s. The fake console runs in this process, so (1) and (3) include its work.
// Run as root (it creates and deletes a throwaway user): node_modules/.bin/bun bench/pty.ts   (IDLE_SECONDS=10 for a shorter idle window)
import { ConsoleHttp } from "../src/console/http.ts";
import { silentLogger } from "../src/log/logger.ts";
import { systemClock } from "../src/platform/clock.ts";
import { terminalCommands } from "../src/capabilities/terminal/commands.ts";
import { TerminalRegistry } from "../src/capabilities/terminal/registry.ts";
import { FakePtyConsole, type PtyChannel } from "../test/console/fake-pty.ts";
import { runnable } from "../test/helpers/commands.ts";

const BURST = 100_000_000;
const creds = { id: "bench", key: "bench_key" };
const fake = new FakePtyConsole(creds);
const registry = new TerminalRegistry(64);
const http = new ConsoleHttp({
  serverUrl: fake.url,
  ...creds,
  tls: { rejectUnauthorized: true },
  userAgent: "alpamon/bench",
  log: silentLogger,
});
const { openpty } = runnable(terminalCommands({ http, registry, log: silentLogger, clock: systemClock }));
// A fresh user, so nobody's shell profile (pyenv, conda, …) is part of what is measured.
const user = `alpb${Math.random().toString(36).slice(2, 8)}`;
if (Bun.spawnSync(["useradd", "-m", "-U", "-s", "/bin/bash", user]).exitCode !== 0) throw new Error("useradd failed (run as root)");

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

async function open(): Promise<PtyChannel> {
  const channel = crypto.randomUUID().replace(/-/g, "");
  const data = { session_id: channel, url: fake.ptyUrl(channel), username: user, groupname: user, rows: 24, cols: 80 };
  const r = await openpty!.run({
    id: "b",
    args: [],
    line: "openpty",
    data,
    user: null,
    group: null,
    env: null,
    signal: new AbortController().signal,
    log: silentLogger,
  });
  if (r.exitCode !== 0) throw new Error(r.result);
  const ch = fake.channel(channel)!;
  ch.keepBytes = 0;
  ch.countNul = false;
  return ch;
}

function type(ch: PtyChannel, text: string): void {
  ch.ws.sendBinary(new TextEncoder().encode(text));
}

try {
  // (1) throughput
  const rawStart = performance.now();
  const raw = Bun.spawnSync(["script", "-qc", `head -c ${BURST} /dev/zero`, "/dev/null"], { stdout: "ignore", stderr: "ignore" });
  const rawMs = performance.now() - rawStart;
  if (raw.exitCode !== 0) throw new Error("script(1) failed");

  const ch = await open();
  await Bun.sleep(300);
  const before = ch.receivedBytes;
  const t0 = performance.now();
  type(ch, `head -c ${BURST} /dev/zero\n`);
  await fake.waitFor(() => ch.receivedBytes - before >= BURST, 300_000, "the burst");
  const agentMs = performance.now() - t0;
  const mbps = (ms: number) => BURST / 1e6 / (ms / 1000);
  console.log(
    `burst 100 MB: raw PTY (script) ${rawMs.toFixed(0)} ms (${mbps(rawMs).toFixed(0)} MB/s); agent path ${agentMs.toFixed(0)} ms (${mbps(agentMs).toFixed(0)} MB/s); agent/raw throughput ratio ${(rawMs / agentMs).toFixed(2)}`,
  );

  // (2) keystroke latency through `cat` with echo and line buffering off
  type(ch, "stty -icanon -echo; cat\n");
  await Bun.sleep(500);
  const latencies: number[] = [];
  const echoStart = ch.receivedBytes;
  for (let i = 0; i < 1000; i++) {
    const seen = ch.receivedBytes;
    const start = performance.now();
    type(ch, "x");
    await fake.waitFor(() => ch.receivedBytes > seen, 5_000, "an echo");
    latencies.push(performance.now() - start);
  }
  await Bun.sleep(200);
  if (ch.receivedBytes - echoStart !== 1000)
    console.log(
      `warning: ${ch.receivedBytes - echoStart} bytes came back for 1000 keystrokes: ${JSON.stringify(ch.tail.subarray(-200).toString())}`,
    );
  latencies.sort((a, b) => a - b);
  console.log(
    `keystroke round trip over 1000 echoes: p50 ${percentile(latencies, 50).toFixed(3)} ms, p99 ${percentile(latencies, 99).toFixed(3)} ms`,
  );
  await registry.closeAll("bench step over");

  // (3) idle CPU
  for (let i = 0; i < 20; i++) await open();
  await Bun.sleep(2_000);
  const seconds = Number(process.env.IDLE_SECONDS ?? 60);
  const cpu0 = process.cpuUsage();
  await Bun.sleep(seconds * 1000);
  const cpu = process.cpuUsage(cpu0);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  console.log(
    `20 idle sessions over ${seconds} s: ${cpuMs.toFixed(1)} ms CPU (${((cpuMs / (seconds * 1000)) * 100).toFixed(3)} % of one core), RSS ${(process.memoryUsage().rss / 1048576).toFixed(1)} MB`,
  );
} finally {
  await registry.closeAll("bench over");
  fake.stop();
  Bun.spawnSync(["pkill", "-KILL", "-u", user]);
  Bun.spawnSync(["userdel", "-r", user]);
  Bun.spawnSync(["groupdel", user]);
}
