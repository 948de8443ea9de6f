// The real CLI as a subprocess: exit codes, one-line errors, --once output checked against /proc itself,
// the agent's foreground run with its PID file, and two processes on one state database.
import { describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readUntil, runCli, startCli } from "../helpers/cli.ts";
import { useTempDirs } from "../helpers/tmp.ts";

const tempDir = useTempDirs("alpamon-cli-");

function conf(dir: string, extra = ""): string {
  const path = join(dir, "alpamon.conf");
  writeFileSync(
    path,
    `[server]\nurl = http://127.0.0.1:9\nid = 0c3e1d2a-0000-4000-8000-000000000001\nkey = not-a-real-key\n` +
      `[agent]\ndata_dir = ${dir}/state\nlog_file = -\npid_file = ${dir}/run/alpamon.pid\n${extra}`,
  );
  return path;
}

describe("exit codes and one-line errors", () => {
  test("a bad config exits 78 with one line naming the file and key, and never a stack trace", async () => {
    const path = conf(tempDir(), "[ssl]\nverify = perhaps\n");
    const r = await runCli(["--config", path]);
    expect(r.code).toBe(78);
    expect(r.stderr.trim().split("\n")).toHaveLength(1);
    expect(r.stderr).toContain(`${path}: [ssl] verify: is not a boolean`);
    expect(r.stderr).not.toMatch(/\bat .*\.ts:\d+/);
  });

  test("ALPAMON_CONFIG pointing nowhere exits 78", async () => {
    const r = await runCli([], { env: { ALPAMON_CONFIG: "/nonexistent/a.conf" } });
    expect(r.code).toBe(78);
    expect(r.stderr).toContain("/nonexistent/a.conf: cannot read the config file (ENOENT)");
  });

  test("an unknown flag exits 1 with one line", async () => {
    const r = await runCli(["--frobnicate"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^alpamon: error: unknown option '--frobnicate'/);
  });

  test("--json without --once is refused", async () => {
    const r = await runCli(["--json"]);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe("alpamon: --json only works together with --once");
  });

  test("version, --version and help", async () => {
    const pkg = JSON.parse(readFileSync(join(import.meta.dir, "../../package.json"), "utf8"));
    for (const args of [["version"], ["--version"]]) {
      const r = await runCli(args);
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(`alpamon ${pkg.version}\n`);
    }
    const help = await runCli(["help"]);
    expect(help.code).toBe(0);
    for (const word of ["--once", "--config", "setup", "version"]) expect(help.stdout).toContain(word);
  });

  test("setup writes a 0600 file from the environment; missing values exit 78", async () => {
    const dir = tempDir();
    const target = join(dir, "etc", "alpamon.conf");
    const ok = await runCli(["setup", "--config", target], {
      env: { ALPACON_URL: "https://c.example", PLUGIN_ID: "id-1", PLUGIN_KEY: "secret-key" },
    });
    expect(ok.code).toBe(0);
    expect(ok.stdout + ok.stderr).not.toContain("secret-key");
    expect(statSync(target).mode & 0o777).toBe(0o600);
    expect(readFileSync(target, "utf8")).toContain('key = "secret-key"');
    const missing = await runCli(["setup", "--config", join(dir, "other.conf")], { env: { PLUGIN_ID: "x" } });
    expect(missing.code).toBe(78);
    expect(missing.stderr).toContain("missing ALPACON_URL (--url), PLUGIN_KEY");
  });
});

describe("--once", () => {
  test("--json matches the contract and what /proc says", async () => {
    const r = await runCli(["--once", "--json", "--data-dir", tempDir()]);
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split("\n");
    expect(lines).toHaveLength(1);
    const s = JSON.parse(lines[0]!);
    expect(Number.isNaN(Date.parse(s.timestamp))).toBe(false);
    expect(Math.abs(Date.now() - Date.parse(s.timestamp))).toBeLessThan(60_000);
    const memTotalKb = Number(/^MemTotal:\s+(\d+) kB/m.exec(readFileSync("/proc/meminfo", "utf8"))![1]);
    expect(s.memory.total).toBe(memTotalKb * 1024);
    expect(s.memory.used).toBeGreaterThan(0);
    expect(s.memory.used).toBeLessThanOrEqual(s.memory.total);
    for (const pct of [s.cpu.usage, s.memory.usage]) {
      expect(pct).toBeGreaterThanOrEqual(0);
      expect(pct).toBeLessThanOrEqual(100);
    }
    const netdev = readFileSync("/proc/net/dev", "utf8");
    for (const t of s.traffic) {
      expect(netdev).toContain(`${t.name}:`);
      for (const key of ["input_bps", "output_bps", "input_pps", "output_pps"]) expect(t[key]).toBeGreaterThanOrEqual(0);
    }
    const diskstats = readFileSync("/proc/diskstats", "utf8");
    for (const d of s.disk_io) expect(diskstats).toMatch(new RegExp(`\\s${d.device}\\s`));
    for (const d of s.disk_usage) {
      expect(d.device.startsWith("/dev/")).toBe(true);
      expect(d.used + d.free).toBeLessThanOrEqual(d.total);
    }
    const rootDevice = readFileSync("/proc/self/mounts", "utf8")
      .split("\n")
      .find((l) => l.split(" ")[1] === "/")
      ?.split(" ")[0];
    if (rootDevice?.startsWith("/dev/") && !rootDevice.startsWith("/dev/loop")) {
      expect(s.disk_usage.map((d: { mount_point: string }) => d.mount_point)).toContain("/");
    }
  });

  test("the default output is a readable table", async () => {
    const r = await runCli(["--once", "--data-dir", tempDir()]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^CPU\s+\d+(\.\d)?%/m);
    expect(r.stdout).toMatch(/^Memory\s+\d+(\.\d)?%/m);
  });

  test("two processes on one database, one of them holding a write lock, both succeed", async () => {
    const dataDir = tempDir();
    const first = await runCli(["--once", "--json", "--data-dir", dataDir]);
    expect(first.code).toBe(0);
    // A daemon-like writer holds the write lock while two more --once runs start.
    const db = new Database(join(dataDir, "alpamon.db"));
    db.run("PRAGMA busy_timeout = 5000");
    db.run("BEGIN IMMEDIATE");
    db.run("INSERT INTO cpu_samples (timestamp, usage) VALUES (1, 1)");
    const runs = [runCli(["--once", "--json", "--data-dir", dataDir]), runCli(["--once", "--json", "--data-dir", dataDir])];
    await Bun.sleep(1500); // the scenario: the lock is held while both runs start and wait on it
    db.run("COMMIT");
    const results = await Promise.all(runs);
    for (const r of results) {
      expect(r.stderr).not.toContain("locked");
      expect(r.code).toBe(0);
    }
    const count = db.query("SELECT COUNT(*) AS n FROM cpu_samples").get() as { n: number };
    db.close();
    expect(count.n).toBe(4);
  });
});

describe("the agent in the foreground", () => {
  test("with no arguments, as the service unit starts it (no commander loaded): the same agent, PID file and errors", async () => {
    const dir = tempDir();
    const env = { ALPAMON_CONFIG: conf(dir) };
    const agent = startCli([], { env });
    try {
      await readUntil(agent.stderr, /console session check failed; retrying/);
      const pidFile = join(dir, "run", "alpamon.pid");
      expect(readFileSync(pidFile, "utf8")).toBe(`${agent.pid}\n`);
      const second = await runCli([], { env });
      expect(second.code).toBe(1);
      expect(second.stderr.trim()).toBe(`alpamon: alpamon is already running (pid ${agent.pid}): ${pidFile} is locked`);
      agent.kill("SIGTERM");
      expect(await agent.exited).toBe(0);
      expect(existsSync(pidFile)).toBe(false);
    } finally {
      agent.kill("SIGKILL");
      await agent.exited;
    }
    const bad = await runCli([], { env: { ALPAMON_CONFIG: conf(tempDir(), "[ssl]\nverify = perhaps\n") } });
    expect(bad.code).toBe(78);
    expect(bad.stderr.trim().split("\n")).toHaveLength(1);
    expect(bad.stderr).toContain("[ssl] verify: is not a boolean");
  });

  test("holds the PID file, refuses a second copy, and stops cleanly on SIGTERM while waiting for the console", async () => {
    const dir = tempDir();
    const path = conf(dir);
    const agent = startCli(["--config", path]);
    try {
      // Nothing listens on 127.0.0.1:9, so the agent sits in the session check, retrying.
      await readUntil(agent.stderr, /console session check failed; retrying/);
      const pidFile = join(dir, "run", "alpamon.pid");
      expect(readFileSync(pidFile, "utf8")).toBe(`${agent.pid}\n`);
      const second = await runCli(["--config", path]);
      expect(second.code).toBe(1);
      expect(second.stderr.trim()).toBe(`alpamon: alpamon is already running (pid ${agent.pid}): ${pidFile} is locked`);
      agent.kill("SIGTERM");
      expect(await agent.exited).toBe(0);
      expect(existsSync(pidFile)).toBe(false);
      expect(existsSync(join(dir, "state", "alpamon.db"))).toBe(true);
    } finally {
      agent.kill("SIGKILL");
      await agent.exited;
    }
  });
});
