// The inventory under test, wired as agent.ts wires it: a real ConsoleHttp and durable Outbox against the fake
// console with its in-memory /api/proc surface (proc-console.ts). Time is the test's: a ManualClock drives the
// inventory's sleeps and its idea of now (the outbox delivers on the real clock, which costs no waiting).
// FixtureHost gives a test the collector inputs it must change or hold still: /proc/uptime (the boot time), the
// mount table (partitions), the dpkg status file (packages) and the answers of `getent` (users and groups, which
// other tests running at the same time change on the real host); the rest is read from the real host.
import { afterEach, expect } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConsoleHttp } from "../../../src/console/http.ts";
import { Outbox } from "../../../src/console/outbox/outbox.ts";
import { openStateDb } from "../../../src/db/open.ts";
import { runProcess } from "../../../src/exec/run.ts";
import type { RunOptions, RunProcess } from "../../../src/exec/types.ts";
import type { CollectorEnv } from "../../../src/capabilities/inventory/collectors/env.ts";
import { Inventory, type InventoryOptions } from "../../../src/capabilities/inventory/inventory.ts";
import { LogHub, type LogRecord } from "../../../src/log/logger.ts";
import { ManualClock, systemClock, type Clock } from "../../../src/platform/clock.ts";
import { FakeConsole, type Dialect } from "../../console/fake-console.ts";
import { eventually } from "../../console/fake-console-waits.ts";
import { ProcConsole } from "./proc-console.ts";

const TOOLS_PATH = "/usr/sbin:/usr/bin:/sbin:/bin";
/** Bound of every wait on the agent or the console; a healthy round takes a few tens of ms. */
export const WAIT_MS = 10_000;

export interface HarnessOptions {
  dialect?: Dialect;
  clock?: Clock;
  /** Collector inputs (a FixtureHost's env); by default the real host with a fixed loadavg. */
  env?: Partial<CollectorEnv>;
  extra?: Partial<InventoryOptions>;
  /** The state database file (default: a fresh one); a second setup on the same file is a restart. */
  dbPath?: string;
}

/** Call once at the top of a test file: registers the cleanups every setup() and tempUser() adds. */
export function useInventoryHarness() {
  // One list, run last-in first-out after each test even when it fails: a held request is released before the
  // outbox stops, the database closes before its directory is removed.
  let cleanups: (() => unknown)[] = [];
  afterEach(async () => {
    const pending = cleanups.reverse();
    cleanups = [];
    for (const c of pending) await c();
  });

  /** A fresh directory, unique to the caller, removed after the test. */
  function tmp(): string {
    const dir = mkdtempSync(join(tmpdir(), "alpamon-inventory-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    return dir;
  }

  /** /proc with a fixed loadavg, so the `server` key's hash does not follow the test machine's load. */
  function procOverlay(): string {
    const dir = join(tmp(), "proc");
    mkdirSync(dir);
    for (const name of ["cpuinfo", "meminfo", "uptime", "1", "self", "sys", "mounts"]) symlinkSync(`/proc/${name}`, join(dir, name));
    writeFileSync(join(dir, "loadavg"), "0.25 0.20 0.10 1/100 1234\n");
    return dir;
  }

  async function setup(options: HarnessOptions = {}) {
    const fake = await FakeConsole.start({ dialect: options.dialect ?? "2025" });
    cleanups.push(() => fake.stop());
    const state = openStateDb(options.dbPath ?? join(tmp(), "alpamon.db"));
    cleanups.push(() => state.close());
    const records: LogRecord[] = [];
    const hub = new LogHub({ write: () => {}, close: () => {} }, "debug");
    hub.listen((r) => records.push(r));
    const log = hub.logger("inventory");
    const http = new ConsoleHttp({
      serverUrl: fake.url,
      id: fake.id,
      key: fake.key,
      tls: { rejectUnauthorized: true },
      userAgent: "alpamon/test",
      log,
    });
    let inventory: Inventory | undefined;
    const outbox = new Outbox({
      state,
      sender: http,
      log: hub.logger("outbox"),
      clock: systemClock,
      onSettled: (item) => inventory?.onOutboxSettled(item),
    });
    outbox.start();
    cleanups.push(() => outbox.stop());
    const clock = options.clock ?? systemClock;
    inventory = new Inventory({
      http,
      outbox,
      state,
      log,
      clock,
      version: "0.1.0-test",
      env: { procRoot: options.env?.procRoot ?? procOverlay(), ...options.env },
      ...options.extra,
    });
    cleanups.push(() => inventory!.stop());
    // The 2025 surface is added to the fake console here; the 2026 one is the fake console's own (fake-console-sync.ts).
    const proc = options.dialect === "2026" ? (undefined as unknown as ProcConsole) : new ProcConsole(fake);
    const delivered = async () => expect(await outbox.drain(WAIT_MS)).toBe(true);
    const warnings = () => records.filter((r) => r.level === "warn");
    /** Every finished sync round (explicit, periodic or follow-up), with its summary, from the inventory's log. */
    const rounds = () =>
      records
        .filter((r) => r.message === "inventory sync done")
        .map((r) => r.fields as { synced: string[]; unchanged: string[]; skipped: string[] });

    /**
     * Moves the ManualClock on by `ms` once the inventory's loop is parked in its sleep, then waits for the sync
     * round that wakes and for its writes to be delivered. A FixtureHost's inputs are first written as they will
     * be at the new time. Returns the index of the round's first request in `fake.requests`.
     */
    async function tick(ms: number, host?: FixtureHost): Promise<number> {
      if (!(clock instanceof ManualClock)) throw new Error("tick() needs a ManualClock");
      await eventually(() => clock.pending > 0, WAIT_MS, "the inventory loop to park in its sleep");
      const done = rounds().length;
      const from = fake.requests.length;
      host?.at(clock.now() + ms);
      await clock.advance(ms);
      await eventually(() => rounds().length > done, WAIT_MS, "the sync round the clock woke");
      await delivered();
      return from;
    }

    /**
     * Holds every matching request at the console's door (before it is recorded or answered) until release():
     * an outbox write stays undelivered, a GET keeps its sync waiting, for exactly as long as the test says.
     * Released at the latest when the test ends, before anything is stopped.
     */
    function hold(method: string, path: string): { held(): number; release(): void } {
      let release!: () => void;
      const gate = new Promise<void>((resolve) => (release = resolve));
      let held = 0;
      fake.mount({
        handle: async (req) => {
          if (req.method !== method || new URL(req.url).pathname !== path) return null;
          held += 1;
          await gate;
          return null;
        },
        open() {},
        message() {},
        close() {},
      });
      cleanups.push(release);
      return { held: () => held, release };
    }

    return { fake, state, outbox, inventory, proc, delivered, warnings, rounds, tick, hold, records };
  }

  async function run(argv: string[]): Promise<void> {
    const r = await runProcess({ argv, env: { PATH: TOOLS_PATH }, timeoutMs: 30_000 });
    if (r.exitCode !== 0) throw new Error(`${argv.join(" ")}: ${r.output}`);
  }

  /** A real local user, removed after the test even when it fails. */
  async function tempUser(): Promise<string> {
    const name = `alpinv${crypto.randomUUID().replaceAll("-", "").slice(0, 10)}`;
    await run(["useradd", "-M", "-d", "/nonexistent", "-s", "/bin/sh", name]);
    cleanups.push(() => runProcess({ argv: ["userdel", name], env: { PATH: TOOLS_PATH }, timeoutMs: 30_000 }));
    return name;
  }

  return { tmp, setup, run, tempUser };
}

/**
 * The real `getent` (real NSS, real useradd and usermod), showing only the named accounts: users and groups made
 * by other tests running at the same time on this host do not turn up in a test's exact expectations.
 */
export function accountsOnly(names: ReadonlySet<string>): RunProcess {
  return async (options) => {
    const result = await runProcess(options);
    if (options.argv[0] !== "getent" || result.exitCode !== 0) return result;
    return {
      ...result,
      output: result.output
        .split("\n")
        .filter((line) => names.has(line.split(":")[0]!))
        .join("\n"),
    };
  };
}

export async function dpkgInstalledCount(): Promise<number> {
  const r = await runProcess({
    // biome-ignore lint/suspicious/noTemplateCurlyInString: dpkg-query's own -f format syntax, not a template literal
    argv: ["dpkg-query", "-W", "-f=${db:Status-Abbrev}\\n"],
    env: { PATH: "/usr/bin:/bin" },
    timeoutMs: 30_000,
  });
  return r.output.split("\n").filter((l) => l.startsWith("ii")).length;
}

export interface FixturePackage {
  name: string;
  version: string;
  arch: string;
}

export interface FixtureMount {
  device: string;
  mountPoint: string;
  fsType?: string;
}

/**
 * A host whose uptime, mounts, packages and accounts the test sets. Boot time is kept consistent with the clock:
 * the uptime file says `now - bootSeconds`, rewritten by `at(nowMs)` (tick() calls it) before each collection, so
 * only a change of `bootSeconds` (a reboot) moves the boot time the agent computes.
 */
export class FixtureHost {
  readonly env: Partial<CollectorEnv>;
  private readonly procRoot: string;
  private readonly root: string;
  bootSeconds: number;
  packages: FixturePackage[] = [
    { name: "adduser", version: "3.134", arch: "all" },
    { name: "bash", version: "5.2.15-2+b7", arch: "amd64" },
    { name: "coreutils", version: "9.1-1", arch: "amd64" },
  ];
  mounts: FixtureMount[] = [
    { device: "/dev/vdz", mountPoint: "/" },
    { device: "/dev/vdy1", mountPoint: "/data" },
  ];
  /** What `getent passwd` and `getent group` print. */
  passwd = "root:x:0:0:root:/root:/bin/bash\ndaemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\nalice:x:1000:1000::/home/alice:/bin/bash\n";
  group = "root:x:0:\ndaemon:x:1:\nalice:x:1000:\n";

  constructor(dir: string, nowMs: number, uptimeSeconds = 5 * 3600) {
    this.procRoot = join(dir, "proc");
    this.root = join(dir, "root");
    mkdirSync(join(this.procRoot, "1"), { recursive: true });
    for (const name of ["cpuinfo", "meminfo", "self", "sys"]) symlinkSync(`/proc/${name}`, join(this.procRoot, name));
    writeFileSync(join(this.procRoot, "loadavg"), "0.25 0.20 0.10 1/100 1234\n");
    mkdirSync(join(this.root, "var/lib/dpkg"), { recursive: true });
    symlinkSync("/etc", join(this.root, "etc"));
    this.bootSeconds = nowMs / 1000 - uptimeSeconds;
    this.env = { procRoot: this.procRoot, root: this.root, runProcess: (options) => this.runProcess(options) };
    this.at(nowMs);
  }

  /** Writes the inputs as they are at `nowMs` (uptime follows the clock; mounts and packages as set). */
  at(nowMs: number): void {
    const uptime = Math.max(0, nowMs / 1000 - this.bootSeconds);
    writeFileSync(join(this.procRoot, "uptime"), `${uptime.toFixed(2)} ${(uptime * 1.5).toFixed(2)}\n`);
    const lines = this.mounts.map((m, i) => `${100 + i} 1 254:${i} / ${m.mountPoint} rw,relatime - ${m.fsType ?? "ext4"} ${m.device} rw`);
    writeFileSync(join(this.procRoot, "1/mountinfo"), `${lines.join("\n")}\n`);
    const paragraphs = this.packages.map(
      (p) => `Package: ${p.name}\nStatus: install ok installed\nArchitecture: ${p.arch}\nVersion: ${p.version}\n`,
    );
    writeFileSync(join(this.root, "var/lib/dpkg/status"), paragraphs.join("\n"));
  }

  private runProcess(options: RunOptions) {
    const [tool, database] = options.argv;
    if (tool !== "getent") return runProcess(options);
    const output = database === "passwd" ? this.passwd : database === "group" ? this.group : "";
    return Promise.resolve({ exitCode: output ? 0 : 2, output, omittedBytes: 0, timedOut: false });
  }
}
