// Benchmark: the websh PTY path of the COMPILED agent, run as a separate process as an operator runs it, against
// the fake console (test/console/fake-pty.ts is the console's PTY side, in this process).
// (1) A 100 MB burst (`head -c 100000000 /dev/zero` in the user's bash) through the agent (PTY → frames →
// WebSocket → console) versus the same burst through a raw PTY (`script -qc … /dev/null > /dev/null`, C, no
// network) and through a Bun process's own terminal (no network: the floor of Bun's PTY reading), interleaved,
// RUNS times; median and spread of the agent/raw ratio (each agent burst against the mean of the raw bursts just
// before and after it). CPU of the agent process during each burst, from /proc.
// (2) Keystroke round trip (console → agent → PTY → `cat` → PTY → agent → console), p50/p99 over 1,000 echoes.
// (3) A console that stops reading during a burst for STALL_SECONDS: CPU and context switches of the agent while
// its terminal is throttled. (4) openpty, command to fin. (5) CPU of the agent process with 20 idle sessions
// over IDLE_SECONDS, from /proc.
// Run as root (it creates and deletes a throwaway user):
//   node_modules/.bin/bun bench/pty.ts [runs=5]   (IDLE_SECONDS=60, STALL_SECONDS=10, BURST=100000000; ALPAMON_BIN=<binary> skips the build)
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { FakeConsole } from "../test/console/fake-console.ts";
import { FakePtyConsole, type PtyChannel } from "../test/console/fake-pty.ts";
import { footprint, mb, spawnAgent, TICKS_PER_SECOND } from "./lib.ts";

const RUNS = Number(process.argv[2] ?? 5);
const BURST = Number(process.env.BURST ?? 100_000_000);
const IDLE_SECONDS = Number(process.env.IDLE_SECONDS ?? 60);
const STALL_SECONDS = Number(process.env.STALL_SECONDS ?? 10);
const ROOT = join(import.meta.dir, "..");
const scratch = mkdtempSync(join(tmpdir(), "alpamon-bench-pty-"));
const load = () =>
  loadavg()
    .map((l) => l.toFixed(2))
    .join(" ");

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}
function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}
/** Median, and how far the lowest and highest value lie from it, in percent. */
function summary(values: number[], digits = 2): string {
  const m = median(values);
  const pct = (v: number) => `${v >= m ? "+" : ""}${((v / m - 1) * 100).toFixed(0)} %`;
  return `median ${m.toFixed(digits)} (min ${Math.min(...values).toFixed(digits)} ${pct(Math.min(...values))}, max ${Math.max(...values).toFixed(digits)} ${pct(Math.max(...values))})`;
}
const mbps = (ms: number) => BURST / 1e6 / (ms / 1000);
/** utime and stime of the process itself, in ms (its children's time is not included). */
function cpuOf(pid: number): { user: number; system: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return { user: (Number(stat[11]) * 1000) / TICKS_PER_SECOND, system: (Number(stat[12]) * 1000) / TICKS_PER_SECOND };
}

/** Voluntary and involuntary context switches of every thread of `pid`. */
function switches(pid: number): number {
  let total = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      const status = readFileSync(`/proc/${pid}/task/${task}/status`, "utf8");
      total += Number(/^voluntary_ctxt_switches:\s+(\d+)/m.exec(status)?.[1] ?? 0);
      total += Number(/^nonvoluntary_ctxt_switches:\s+(\d+)/m.exec(status)?.[1] ?? 0);
    } catch {
      // the thread ended meanwhile
    }
  }
  return total;
}

/** CPU time of the waited-for children of `pid` (cutime + cstime), in ms. */
function childrenCpu(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return ((Number(stat[13]) + Number(stat[14])) * 1000) / TICKS_PER_SECOND;
}
const usMs = (us: bigint) => Number(us) / 1000;

interface Burst {
  ms: number;
  /** CPU of everything on the path (writer, PTY, reader), in ms. */
  cpu: number;
}

/** script(1) reads the PTY and writes to /dev/null; its CPU includes head's (it waits for it). */
function rawPty(): Burst {
  const t0 = performance.now();
  const raw = Bun.spawnSync(["script", "-qc", `head -c ${BURST} /dev/zero`, "/dev/null"], { stdout: "ignore", stderr: "ignore" });
  if (raw.exitCode !== 0) throw new Error("script(1) failed");
  return { ms: performance.now() - t0, cpu: usMs(raw.resourceUsage.cpuTime.total) };
}

/** The same burst read by this (Bun) process from its own terminal, data dropped: no frames, no socket. */
async function bunPty(): Promise<Burst> {
  let eof!: () => void;
  const done = new Promise<void>((resolve) => (eof = resolve));
  const own0 = process.cpuUsage();
  const t0 = performance.now();
  const head = Bun.spawn(["head", "-c", String(BURST), "/dev/zero"], {
    terminal: { cols: 80, rows: 24, data: () => {}, exit: () => eof() },
  });
  await done;
  const ms = performance.now() - t0;
  const own = process.cpuUsage(own0);
  await head.exited;
  return { ms, cpu: (own.user + own.system) / 1000 + usMs(head.resourceUsage()?.cpuTime.total ?? 0n) };
}

let bin = process.env.ALPAMON_BIN;
if (!bin) {
  const build = Bun.spawnSync([process.execPath, "build.ts", "--target", "host", "--outdir", scratch], {
    cwd: ROOT,
    stdout: "ignore",
    stderr: "inherit",
  });
  if (build.exitCode !== 0) throw new Error("build failed");
  bin = join(scratch, "alpamon-linux-x64");
  process.env.ALPAMON_BIN = bin;
}
const fake = await FakeConsole.start();
const pty = new FakePtyConsole({ id: fake.id, key: fake.key }, undefined, fake);
// A fresh user, so nobody's shell profile (pyenv, conda, …) is part of what is measured.
const user = `alpb${Math.random().toString(36).slice(2, 8)}`;
if (Bun.spawnSync(["useradd", "-m", "-U", "-s", "/bin/bash", user]).exitCode !== 0) throw new Error("useradd failed (run as root)");
let agent: ReturnType<typeof spawnAgent> | undefined;

async function open(): Promise<PtyChannel> {
  const channel = crypto.randomUUID().replace(/-/g, "");
  const data = { session_id: `b-${channel.slice(0, 12)}`, url: pty.ptyUrl(channel), username: user, groupname: user, rows: 24, cols: 80 };
  const fin = await fake.waitForFin(fake.sendCommand({ shell: "internal", line: "openpty", data }), 30_000);
  if (!fin.success) throw new Error(fin.result);
  const ch = pty.channel(channel)!;
  ch.keepBytes = 0;
  ch.countNul = false;
  return ch;
}

const type = (ch: PtyChannel, text: string) => ch.ws.sendBinary(new TextEncoder().encode(text));

/** Waits for the shell's prompt after `line`: a marker the typed line itself cannot contain. */
async function settle(ch: PtyChannel, tag: string): Promise<void> {
  type(ch, `echo ${tag}''DONE\n`);
  await pty.waitFor(() => ch.tail.toString("latin1").includes(`${tag}DONE`), 60_000, `${tag}DONE`);
}

try {
  agent = spawnAgent(fake, join(scratch, "agent"));
  console.log(`agent ${bin}; ${RUNS} runs of ${BURST / 1e6} MB; load ${load()}`);
  await fake.waitForBackhaul(30_000);
  const ch = await open();
  await settle(ch, "warm");
  type(ch, "echo PI''D=$$\n");
  const shell = Number((await pty.waitFor(() => /PID=(\d+)/.exec(ch.tail.toString("latin1")), 30_000, "the shell's pid"))[1]);
  const ratios: number[] = [];
  const agentRates: number[] = [];
  const rawRates: number[] = [];
  const bunRates: number[] = [];
  const agentCpu: number[] = [];
  const cpuRatios: number[] = [];
  const rawDrift: number[] = [];
  // Each agent burst is bracketed by a raw burst before and after it (the "after" one is the next run's
  // "before"), and compared with their mean: a change of the machine's load during the run moves both.
  let rawBefore = rawPty();
  for (let run = 1; run <= RUNS; run++) {
    const bun = await bunPty();
    const bunMs = bun.ms;
    const before = ch.receivedBytes;
    const frames0 = ch.binaryFrames;
    const pings0 = fake.agentPings;
    const head0 = childrenCpu(shell);
    const cpu0 = cpuOf(agent!.pid);
    const own0 = process.cpuUsage();
    const t0 = performance.now();
    type(ch, `head -c ${BURST} /dev/zero\n`);
    await pty.waitFor(() => ch.receivedBytes - before >= BURST, 300_000, "the burst");
    const agentMs = performance.now() - t0;
    const cpu1 = cpuOf(agent!.pid);
    const own = process.cpuUsage(own0);
    const frames = ch.binaryFrames - frames0;
    const markers = fake.agentPings - pings0;
    await settle(ch, `r${run}`);
    const headCpu = childrenCpu(shell) - head0; // head has been reaped by the shell once the prompt is back
    const rawAfter = rawPty();
    const raw = (mbps(rawBefore.ms) + mbps(rawAfter.ms)) / 2;
    rawDrift.push(rawBefore.ms / rawAfter.ms);
    ratios.push(mbps(agentMs) / raw);
    agentRates.push(mbps(agentMs));
    rawRates.push(mbps(rawAfter.ms));
    bunRates.push(mbps(bunMs));
    const cpu = cpu1.user + cpu1.system - cpu0.user - cpu0.system;
    const consoleCpu = (own.user + own.system) / 1000;
    const pathCpu = cpu + consoleCpu + headCpu;
    const rawCpu = (rawBefore.cpu + rawAfter.cpu) / 2;
    agentCpu.push(cpu);
    cpuRatios.push(pathCpu / rawCpu);
    console.log(
      `run ${run}: raw PTY ${mbps(rawBefore.ms).toFixed(0)} / ${mbps(rawAfter.ms).toFixed(0)} MB/s (before / after; CPU ${rawBefore.cpu.toFixed(0)} / ${rawAfter.cpu.toFixed(0)} ms); Bun terminal alone ${mbps(bunMs).toFixed(0)} MB/s (CPU ${bun.cpu.toFixed(0)} ms); agent ${agentMs.toFixed(0)} ms = ${mbps(agentMs).toFixed(0)} MB/s (CPU: agent ${(cpu1.user - cpu0.user).toFixed(0)} user + ${(cpu1.system - cpu0.system).toFixed(0)} system, console ${consoleCpu.toFixed(0)}, head ${headCpu.toFixed(0)} ms; ${frames} frames, ${markers} drain markers); agent/raw ${(mbps(agentMs) / raw).toFixed(2)}; load ${load()}`,
    );
    rawBefore = rawAfter;
  }
  console.log(`agent CPU per burst: ${summary(agentCpu, 0)} ms`);
  console.log(`CPU of the whole path per burst (agent + console + head) / raw (script + head): ${summary(cpuRatios)}`);
  console.log(`agent/raw PTY throughput ratio: ${summary(ratios)}`);
  console.log(`the noise floor, raw PTY / the raw PTY run before it: ${summary(rawDrift)}`);
  console.log(`MB/s raw PTY ${summary(rawRates, 0)}; Bun terminal alone ${summary(bunRates, 0)}; agent ${summary(agentRates, 0)}`);

  type(ch, "stty -icanon -echo; cat\n");
  await Bun.sleep(500);
  const latencies: number[] = [];
  const echoStart = ch.receivedBytes;
  for (let i = 0; i < 1000; i++) {
    const seen = ch.receivedBytes;
    const start = performance.now();
    type(ch, "x");
    await pty.waitFor(() => ch.receivedBytes > seen, 5_000, "an echo");
    latencies.push(performance.now() - start);
  }
  await Bun.sleep(200);
  if (ch.receivedBytes - echoStart !== 1000) console.log(`warning: ${ch.receivedBytes - echoStart} bytes came back for 1000 keystrokes`);
  latencies.sort((a, b) => a - b);
  console.log(
    `keystroke round trip over 1000 echoes: p50 ${percentile(latencies, 50).toFixed(3)} ms, p99 ${percentile(latencies, 99).toFixed(3)} ms; load ${load()}`,
  );
  ch.ws.close(1000, "bench step over");

  // (3) A console that stops reading in the middle of a burst, for STALL_SECONDS: the terminal is throttled all
  // that time. What the agent does meanwhile: CPU and wake-ups (context switches of all its threads).
  const stalled = await open();
  await settle(stalled, "s");
  stalled.ws.pause();
  type(stalled, `head -c ${BURST} /dev/zero\n`);
  await Bun.sleep(2_000); // the queues fill and the terminal is stopped
  const stall0 = { cpu: cpuOf(agent!.pid), switches: switches(agent!.pid), markers: fake.agentPings };
  await Bun.sleep(STALL_SECONDS * 1000);
  const stall1 = { cpu: cpuOf(agent!.pid), switches: switches(agent!.pid) };
  stalled.ws.resume();
  const stallCpu = stall1.cpu.user + stall1.cpu.system - stall0.cpu.user - stall0.cpu.system;
  console.log(
    `a console that stops reading for ${STALL_SECONDS} s during a burst: agent ${stallCpu.toFixed(0)} ms CPU, ${stall1.switches - stall0.switches} context switches; load ${load()}`,
  );
  await settle(stalled, "s2");
  console.log(`  burst completed after the stall, ${fake.agentPings - stall0.markers} drain markers in all`);
  stalled.ws.close(1000, "bench step over");

  // (4) openpty, command sent to fin (the shell runs and the socket is open), 10 times.
  const opens: number[] = [];
  for (let i = 0; i < 10; i++) {
    const t0 = performance.now();
    const c = await open();
    opens.push(performance.now() - t0);
    c.ws.close(1000, "bench step over");
  }
  console.log(`openpty to fin over 10 opens: ${summary(opens, 1)} ms; load ${load()}`);

  if (IDLE_SECONDS > 0) {
    for (let i = 0; i < 20; i++) await open();
    await Bun.sleep(2_000);
    const cpu0 = cpuOf(agent!.pid);
    await Bun.sleep(IDLE_SECONDS * 1000);
    const cpu1 = cpuOf(agent!.pid);
    const cpu = cpu1.user + cpu1.system - cpu0.user - cpu0.system;
    console.log(
      `20 idle sessions over ${IDLE_SECONDS} s: agent ${cpu.toFixed(0)} ms CPU (${((cpu / (IDLE_SECONDS * 1000)) * 100).toFixed(3)} % of one core), RSS ${mb(footprint(agent!.pid).rss)} MB; load ${load()}`,
    );
  }
  for (const c of pty.channels) if (c.closeCode === undefined) c.ws.close(1000, "bench over");
} finally {
  agent?.kill("SIGTERM");
  await Promise.race([agent?.exited, Bun.sleep(10_000)]);
  agent?.kill("SIGKILL");
  pty.stop();
  await fake.stop();
  Bun.spawnSync(["pkill", "-KILL", "-u", user]);
  Bun.spawnSync(["userdel", "-r", user]);
  Bun.spawnSync(["groupdel", user]);
  rmSync(scratch, { recursive: true, force: true });
}
