import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { AlreadyRunningError, PidFile } from "../../src/platform/pidfile.ts";
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
});
