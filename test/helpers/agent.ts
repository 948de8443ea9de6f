// Starts the real agent (from source) against a FakeConsole, with its own config, state dir and PID file in a
// temp dir. Collects its log lines; `stop()` kills it and is safe to call twice (use in finally/afterEach).
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach } from "bun:test";
import { FakeConsole } from "../console/fake-console.ts";
import { MAIN } from "./cli.ts";
import { runnableByOthers } from "./reachable.ts";

export interface AgentOptions {
  /** A key other than the console's (to test a rejected key). */
  key?: string;
  verify?: boolean;
  /** Use the console's CA (default true when the console has one). */
  useCa?: boolean;
  debug?: boolean;
  extraConfig?: string;
  /** Where the agent logs (`log_file`); default `-`, stderr. */
  logFile?: string;
  env?: Record<string, string>;
  /** A cgroup.procs file: the agent starts inside that cgroup (a shell writes its own pid, then execs it). */
  cgroupProcs?: string;
}

export class RunningAgent {
  log = "";
  private readonly waiters = new Set<() => void>();
  readonly done: Promise<number>;

  constructor(
    readonly proc: ReturnType<typeof Bun.spawn>,
    readonly dir: string,
  ) {
    this.done = this.pump().then(() => proc.exited);
  }

  get pid(): number {
    return this.proc.pid;
  }

  private async pump(): Promise<void> {
    const stream = this.proc.stderr as ReadableStream<Uint8Array>;
    const decoder = new TextDecoder();
    for await (const chunk of stream) {
      this.log += decoder.decode(chunk, { stream: true });
      for (const wake of this.waiters) wake();
    }
  }

  /** Waits until the agent's log matches `pattern`. */
  async waitForLog(pattern: RegExp, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pattern.test(this.log)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`agent log never matched ${pattern}; log so far:\n${this.log}`);
      await new Promise<void>((resolve) => {
        const wake = () => {
          this.waiters.delete(wake);
          resolve();
        };
        this.waiters.add(wake);
        setTimeout(wake, Math.min(left, 200));
      });
    }
  }

  async stop(signal: "SIGTERM" | "SIGKILL" = "SIGKILL"): Promise<number> {
    this.proc.kill(signal);
    return await this.done;
  }
}

/** Writes a config for `fake` into `dir` and returns its path. */
export function writeAgentConfig(fake: FakeConsole, dir: string, options: AgentOptions = {}): string {
  mkdirSync(dir, { recursive: true });
  const useCa = options.useCa ?? fake.caCertPath !== undefined;
  const lines = [
    "[server]",
    `url = ${fake.url}`,
    `id = ${fake.id}`,
    `key = ${options.key ?? fake.key}`,
    "[ssl]",
    `verify = ${options.verify ?? true}`,
    useCa && fake.caCertPath ? `ca_cert = ${fake.caCertPath}` : "",
    "[logging]",
    `debug = ${options.debug ?? false}`,
    "[agent]",
    `data_dir = ${join(dir, "state")}`,
    `log_file = ${options.logFile ?? "-"}`,
    `pid_file = ${join(dir, "alpamon.pid")}`,
    options.extraConfig ?? "",
  ];
  const path = join(dir, "alpamon.conf");
  writeFileSync(path, `${lines.join("\n")}\n`, { mode: 0o600 });
  return path;
}

export function startAgent(fake: FakeConsole, dir: string, options: AgentOptions = {}): RunningAgent {
  const config = writeAgentConfig(fake, dir, options);
  // The agent starts its file worker (itself, from source: Bun and main.ts) as the requested user.
  const argv = [...runnableByOthers(MAIN), "--config", config];
  const join = options.cgroupProcs ? ["/bin/sh", "-c", 'echo $$ > "$0" && exec "$@"', options.cgroupProcs] : [];
  const proc = Bun.spawn([...join, ...argv], {
    cwd: "/",
    // The old 5 s → 60 s reconnect backoff: tests that drop the backhaul wait seconds, not the storm-safe 35 s.
    env: {
      PATH: process.env.PATH ?? "/usr/bin:/bin",
      HOME: "/nonexistent-home",
      ALPAMON_BACKHAUL_BACKOFF_MS: "5000,60000",
      ...options.env,
    },
    stdin: "ignore",
    stdout: "ignore",
    stderr: "pipe",
  });
  return new RunningAgent(proc, dir);
}

/**
 * Per-test fake consoles and agents, stopped in reverse order after each test even when it fails.
 * `cleanup` registers anything else that must go with them.
 */
export function useConsoleAndAgents() {
  const cleanups: (() => unknown)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await Promise.resolve(cleanup()).catch(() => {});
  });
  return {
    cleanup: (fn: () => unknown) => void cleanups.push(fn),
    async consoleOf(options: Parameters<typeof FakeConsole.start>[0] = {}): Promise<FakeConsole> {
      const fake = await FakeConsole.start(options);
      cleanups.push(() => fake.stop());
      return fake;
    },
    agentFor(fake: FakeConsole, dir: string, options: AgentOptions = {}): RunningAgent {
      const agent = startAgent(fake, dir, options);
      cleanups.push(() => agent.stop());
      return agent;
    },
  };
}
