// The PID file through the real agent: a symlink or a hard link planted where the PID file goes, a
// directory others can write, or a file someone else owns makes the agent refuse to start with one clear
// line and exit 1, and the file the plant pointed at keeps its content and mode.
import { describe, expect, test } from "bun:test";
import { chmodSync, chownSync, linkSync, lstatSync, mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startCli } from "../helpers/cli.ts";
import { useTempDirs } from "../helpers/tmp.ts";

const tempDir = useTempDirs("alpamon-pidplant-");

function conf(dir: string): string {
  const path = join(dir, "alpamon.conf");
  writeFileSync(
    path,
    `[server]\nurl = http://127.0.0.1:9\nid = 0c3e1d2a-0000-4000-8000-000000000001\nkey = not-a-real-key\n` +
      `[agent]\ndata_dir = ${dir}/state\nlog_file = -\npid_file = ${dir}/run/alpamon.pid\n`,
    { mode: 0o600 },
  );
  return path;
}

/** Runs the agent; one that is still running after `ms` (it took the file) is killed and reported as such. */
async function runAgentBriefly(config: string, ms = 8_000): Promise<{ code: number | "still running"; stderr: string }> {
  const proc = startCli(["--config", config]);
  const stderr = new Response(proc.stderr).text();
  const timer = setTimeout(() => proc.kill("SIGKILL"), ms);
  const exit = await proc.exited;
  clearTimeout(timer);
  return { code: proc.signalCode === "SIGKILL" ? "still running" : exit, stderr: await stderr };
}

/** A file outside the PID directory that a plant points at, with content and a mode worth protecting. */
function victim(dir: string): { path: string; before: () => void } {
  const path = join(dir, "victim.conf");
  writeFileSync(path, "key = do-not-touch\n");
  chmodSync(path, 0o640);
  return {
    path,
    before: () => {
      expect(readFileSync(path, "utf8")).toBe("key = do-not-touch\n");
      expect(statSync(path).mode & 0o7777).toBe(0o640);
    },
  };
}

function setup() {
  const dir = tempDir();
  const runDir = join(dir, "run");
  mkdirSync(runDir, { mode: 0o755 });
  chmodSync(runDir, 0o755);
  return { dir, runDir, pidFile: join(runDir, "alpamon.pid"), config: conf(dir) };
}

describe("a planted PID file is refused, and what it points at is untouched", () => {
  test("a symlink to another file", async () => {
    const { dir, pidFile, config } = setup();
    const target = victim(dir);
    symlinkSync(target.path, pidFile);
    const r = await runAgentBriefly(config);
    target.before();
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(`alpamon: refusing the PID file ${pidFile}: it is a symbolic link`);
    expect(lstatSync(pidFile).isSymbolicLink()).toBe(true);
  }, 30_000);

  test("a symlink to a file that does not exist yet is not created", async () => {
    const { dir, pidFile, config } = setup();
    const target = join(dir, "created-by-root");
    symlinkSync(target, pidFile);
    const r = await runAgentBriefly(config);
    expect(() => lstatSync(target)).toThrow();
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("it is a symbolic link");
  }, 30_000);

  test("a hard link to another file", async () => {
    const { dir, pidFile, config } = setup();
    const target = victim(dir);
    linkSync(target.path, pidFile);
    const r = await runAgentBriefly(config);
    target.before();
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(`alpamon: refusing the PID file ${pidFile}: it has 2 hard links (a planted link to another file?)`);
  }, 30_000);

  test("a file owned by another user", async () => {
    const { pidFile, config } = setup();
    writeFileSync(pidFile, "12345\n");
    chownSync(pidFile, 65534, 65534);
    const r = await runAgentBriefly(config);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(`alpamon: refusing the PID file ${pidFile}: it is owned by uid 65534, not root`);
    expect(readFileSync(pidFile, "utf8")).toBe("12345\n");
  }, 30_000);

  test("a directory that group or others can write (sticky or not) is refused, naming it", async () => {
    for (const mode of [0o777, 0o1777, 0o775, 0o757]) {
      const { runDir, pidFile, config } = setup();
      chmodSync(runDir, mode);
      const r = await runAgentBriefly(config);
      expect(r.code).toBe(1);
      expect(r.stderr.trim()).toBe(
        `alpamon: refusing the PID file ${pidFile}: its directory ${runDir} is writable by group or others (mode ${mode.toString(8)}); use a directory only root can write, such as /run/alpamon`,
      );
      expect(() => lstatSync(pidFile)).toThrow();
    }
  }, 60_000);
});
