// Issue 16, finding 2: a console `env` must never reach a process running as root. Through the real agent:
// LD_PRELOAD (a library built here whose constructor records the uid it runs as) and the rest of the
// loader family get a failed fin naming the key, and the library never runs; malformed keys and NUL in
// values get a failed fin too; an ordinary variable still reaches the user's program.
import { describe, expect, test } from "bun:test";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { useConsoleAndAgents } from "../helpers/agent.ts";
import { buildMarkerLibrary } from "../helpers/preload.ts";
import { useTempDirs } from "../helpers/tmp.ts";
import { useTestUser } from "../helpers/users.ts";

const { user: USER, isRoot } = useTestUser("alpe");
const tempDir = useTempDirs("alpamon-env-");
const { consoleOf, agentFor } = useConsoleAndAgents();

async function connectedAgent() {
  const fake = await consoleOf();
  agentFor(fake, tempDir());
  await fake.waitForBackhaul(30_000);
  return fake;
}

describe.if(isRoot)("a command's environment (root only)", () => {
  test("LD_PRELOAD and the loader family are refused with a fin naming the key; the library never runs", async () => {
    const dir = tempDir();
    const marks = buildMarkerLibrary(dir);
    // The detector works: a root process that honours LD_PRELOAD records uid 0.
    Bun.spawnSync(["/bin/true"], { env: { LD_PRELOAD: marks.lib } });
    expect(marks.uids()).toEqual([0]);
    Bun.spawnSync(["rm", "-f", marks.marker]);

    const fake = await connectedAgent();
    const libDir = join(dir, "libs");
    mkdirSync(libDir);
    const attempts: Record<string, string> = {
      LD_PRELOAD: marks.lib,
      LD_AUDIT: marks.lib,
      LD_LIBRARY_PATH: libDir,
      GCONV_PATH: libDir,
      GLIBC_TUNABLES: "glibc.malloc.check=3",
    };
    for (const [key, value] of Object.entries(attempts)) {
      const id = fake.sendCommand({ shell: "system", line: "true", user: USER, env: { [key]: value } });
      const fin = await fake.waitForFin(id, 30_000);
      expect(fin.success, key).toBe(false);
      expect(fin.result).toBe(`invalid command: command.env: key "${key}" is not allowed (dynamic loader variables are refused)`);
    }
    // The same library as an ordinary variable's value is harmless and the command runs.
    const ok = fake.sendCommand({ shell: "system", line: "printenv PRELOAD_PATH", user: USER, env: { PRELOAD_PATH: marks.lib } });
    const okFin = await fake.waitForFin(ok, 30_000);
    expect(okFin.success).toBe(true);
    expect(okFin.result.trim()).toBe(marks.lib);
    expect(marks.uids()).toEqual([]);
  }, 90_000);

  test("keys with '=', a leading digit or a NUL in a value get a failed fin that names them", async () => {
    const fake = await connectedAgent();
    const cases: [Record<string, string>, string][] = [
      [{ "A=B": "x" }, 'command.env: key "A=B" is not a valid name'],
      [{ "1X": "x" }, 'command.env: key "1X" is not a valid name'],
      [{ "WITH SPACE": "x" }, 'command.env: key "WITH SPACE" is not a valid name'],
      [{ GOOD: "a\0b" }, 'command.env: the value of "GOOD" contains a NUL character'],
      [{ UID: "0" }, 'system command: env: key "UID" is managed by the shell and cannot be set'],
    ];
    for (const [env, message] of cases) {
      const id = fake.sendCommand({ shell: "system", line: "true", user: USER, env });
      const fin = await fake.waitForFin(id, 30_000);
      expect(fin.success, JSON.stringify(env)).toBe(false);
      expect(fin.result).toContain(message);
    }
    // The agent keeps serving.
    const id = fake.sendCommand({ shell: "system", line: "printenv GREETING", user: USER, env: { GREETING: "hello there" } });
    const fin = await fake.waitForFin(id, 30_000);
    expect(fin).toMatchObject({ success: true, result: "hello there\n" });
  }, 90_000);
});
