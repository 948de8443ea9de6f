// A full state disk (issue 16, finding 9): the real agent's data directory is a small tmpfs the test fills
// after the agent started. A new command cannot be recorded, yet the console gets its ack and a failed fin
// saying why (sent directly, bypassing the outbox), the agent logs one error line for it all and stays up,
// and once there is room again the next command is recorded and runs as usual.
import { describe, expect, test } from "bun:test";
import { closeSync, mkdirSync, openSync, rmSync, writeSync } from "node:fs";
import { join } from "node:path";
import { useConsoleAndAgents } from "../helpers/agent.ts";
import { useTempDirs } from "../helpers/tmp.ts";

const tempDir = useTempDirs("alpamon-diskfull-");
const { consoleOf, agentFor } = useConsoleAndAgents();
const isRoot = process.getuid?.() === 0;

const sh = (...argv: string[]) => Bun.spawnSync(argv, { stdout: "pipe", stderr: "pipe" });
const FULL = /^alpamon: cannot record this command: the state disk is full \(SQLITE_FULL[^)]*\); it was not run$/;

/** Writes zeros into `path` until the file system says it is full. */
function fill(path: string): void {
  const fd = openSync(path, "w");
  const chunk = new Uint8Array(64 * 1024);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "ENOSPC") throw err;
  } finally {
    closeSync(fd);
  }
}

describe.skipIf(!isRoot)("a full state disk", () => {
  test("a command that cannot be recorded gets a failed fin directly, with one error line; room again, it works", async () => {
    const dir = tempDir();
    const state = join(dir, "state");
    mkdirSync(state, { mode: 0o700 });
    expect(sh("mount", "-t", "tmpfs", "-o", "size=4m,mode=0700", "tmpfs", state).exitCode).toBe(0);
    try {
      const fake = await consoleOf();
      const agent = agentFor(fake, dir);
      await fake.waitForBackhaul(20_000);
      expect((await fake.waitForFin(fake.sendCommand({ shell: "internal", line: "ping" }), 15_000)).success).toBe(true);

      const filler = join(state, "filler");
      fill(filler);
      const ids = [1, 2, 3].map(() => fake.sendCommand({ line: "echo should-not-run", user: "root" }));
      for (const id of ids) {
        await fake.waitForAck(id, 30_000);
        const fin = await fake.waitForFin(id, 30_000);
        expect(fin.success).toBe(false);
        expect(fin.result).toMatch(FULL);
      }
      const lines = agent.log.split("\n").filter((l) => l.includes("cannot record commands"));
      expect(lines, agent.log).toHaveLength(1);
      expect(lines[0]).toContain("[ERROR]");
      expect(agent.proc.exitCode).toBeNull();

      rmSync(filler);
      const after = await fake.waitForFin(fake.sendCommand({ line: "echo recorded-again", user: "root" }), 30_000);
      expect(after).toMatchObject({ success: true, result: "recorded-again\n" });
      expect(agent.log).toContain("commands are recorded in the state database again");
      await agent.stop();
    } finally {
      sh("umount", "-l", state);
    }
  }, 120_000);
});
