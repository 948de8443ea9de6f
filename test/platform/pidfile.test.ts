import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { AlreadyRunningError, PidFile, UnsafePidFileError } from "../../src/platform/pidfile.ts";
import { useTempDirs } from "../helpers/tmp.ts";

const tempDir = useTempDirs("alpamon-pid-");

/** Starts a real second process that holds the PID file until killed. */
async function holder(path: string) {
  const script = `import { PidFile } from ${JSON.stringify(join(import.meta.dir, "../../src/platform/pidfile.ts"))};
PidFile.acquire(${JSON.stringify(path)}); console.log("held"); setInterval(() => {}, 1000);`;
  const proc = Bun.spawn([process.execPath, "-e", script], { stdout: "pipe", stderr: "inherit" });
  const reader = proc.stdout.getReader();
  const { value } = await reader.read();
  expect(new TextDecoder().decode(value)).toContain("held");
  return proc;
}

describe("PID file", () => {
  test("writes our pid, and release removes it", () => {
    const path = join(tempDir(), "run", "alpamon.pid");
    const pid = PidFile.acquire(path);
    expect(readFileSync(path, "utf8")).toBe(`${process.pid}\n`);
    pid.release();
    pid.release();
    expect(existsSync(path)).toBe(false);
  });

  test("a live agent holding the lock is reported with its pid", async () => {
    const path = join(tempDir(), "alpamon.pid");
    const proc = await holder(path);
    try {
      let caught: unknown;
      try {
        PidFile.acquire(path);
      } catch (err) {
        caught = err;
      }
      expect(caught).toBeInstanceOf(AlreadyRunningError);
      expect((caught as AlreadyRunningError).pid).toBe(proc.pid);
      expect((caught as Error).message).toContain(`pid ${proc.pid}`);
    } finally {
      proc.kill("SIGKILL");
      await proc.exited;
    }
    // Once the holder is gone its stale file no longer blocks anyone.
    const pid = PidFile.acquire(path);
    expect(readFileSync(path, "utf8")).toBe(`${process.pid}\n`);
    pid.release();
  });

  test("a stale file naming a live but unrelated process (recycled pid) does not block", () => {
    const path = join(tempDir(), "alpamon.pid");
    writeFileSync(path, "1\n");
    const pid = PidFile.acquire(path);
    expect(readFileSync(path, "utf8")).toBe(`${process.pid}\n`);
    pid.release();
  });

  test("held through an fd opened with O_NOFOLLOW and O_CLOEXEC (no agent child inherits it)", () => {
    const path = join(tempDir(), "alpamon.pid");
    const pid = PidFile.acquire(path);
    try {
      const fd = readdirSync("/proc/self/fd").find((n) => {
        try {
          return readlinkSync(`/proc/self/fd/${n}`) === path;
        } catch {
          return false;
        }
      });
      expect(fd).toBeDefined();
      const flags = Number.parseInt(/^flags:\s+(\d+)/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, "utf8"))![1]!, 8);
      expect(flags & 0o400000).toBe(0o400000); // O_NOFOLLOW
      expect(flags & 0o2000000).toBe(0o2000000); // O_CLOEXEC
      expect(flags & 0o2000).toBe(0); // not O_APPEND: the pid is written at offset 0
    } finally {
      pid.release();
    }
  });

  test("release leaves alone a file that replaced ours at the path", () => {
    const dir = tempDir();
    const path = join(dir, "alpamon.pid");
    const pid = PidFile.acquire(path);
    writeFileSync(join(dir, "other"), `${process.pid}\n`);
    renameSync(join(dir, "other"), path);
    pid.release();
    expect(readFileSync(path, "utf8")).toBe(`${process.pid}\n`);
    rmSync(path);
  });

  test("unsafe files and directories throw UnsafePidFileError before anything is written", () => {
    const dir = tempDir();
    const victim = join(dir, "victim");
    writeFileSync(victim, "keep\n");
    const planted = join(dir, "planted.pid");
    symlinkSync(victim, planted);
    expect(() => PidFile.acquire(planted)).toThrow(UnsafePidFileError);
    expect(readFileSync(victim, "utf8")).toBe("keep\n");
  });
});
