// The JavaScriptCore tuning: the decision in isolation, then for real: the agent process (same PID) runs with
// the options in its initial environment, and a command it runs does not inherit them.
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { applyJscTuning, JSC_TUNING, TUNED_MARKER } from "../../src/exec/jsc-tuning.ts";
import { useConsoleAndAgents } from "../helpers/agent.ts";
import { useTempDirs } from "../helpers/tmp.ts";

const tempDir = useTempDirs("alpamon-jsc-");
const { consoleOf, agentFor } = useConsoleAndAgents();
const names = Object.keys(JSC_TUNING);

describe("applyJscTuning", () => {
  test("first start: re-executes with the options and a marker naming what it added", () => {
    const calls: { argv: string[]; env: Record<string, string | undefined> }[] = [];
    const result = applyJscTuning(
      { PATH: "/usr/bin" },
      (argv, env) => {
        calls.push({ argv, env });
        return "execve failed";
      },
      () => ["/usr/bin/alpamon", "--config", "/x"],
    );
    expect(result).toBe("execve failed"); // returned only because the fake exec "failed"
    expect(calls).toEqual([
      { argv: ["/usr/bin/alpamon", "--config", "/x"], env: { PATH: "/usr/bin", ...JSC_TUNING, [TUNED_MARKER]: names.join(",") } },
    ]);
  });

  test("an option the operator set is kept and not named in the marker", () => {
    const mine = { [names[0]!]: "42" };
    let seen: Record<string, string | undefined> | undefined;
    applyJscTuning(
      { ...mine },
      (_a, env) => {
        seen = env;
        return "x";
      },
      () => ["a"],
    );
    expect(seen![names[0]!]).toBe("42");
    expect(seen![TUNED_MARKER]).toBe(names.slice(1).join(","));
    let execs = 0;
    const all = Object.fromEntries(names.map((n) => [n, "1"]));
    expect(
      applyJscTuning(
        all,
        () => {
          execs++;
          return "x";
        },
        () => ["a"],
      ),
    ).toBeUndefined();
    expect(execs).toBe(0);
  });

  test("after the re-exec: removes what it added (not the operator's), never execs again; =0 turns it off", () => {
    // The operator set the first variable; the agent added the others.
    const env: Record<string, string | undefined> = { ...JSC_TUNING, [TUNED_MARKER]: names.slice(1).join(","), PATH: "/bin" };
    let execs = 0;
    expect(
      applyJscTuning(
        env,
        () => {
          execs++;
          return "x";
        },
        () => ["a"],
      ),
    ).toBeUndefined();
    expect(env).toEqual({ [names[0]!]: JSC_TUNING[names[0]!], PATH: "/bin" });
    expect(
      applyJscTuning(
        { ALPAMON_JSC_TUNING: "0" },
        () => {
          execs++;
          return "x";
        },
        () => ["a"],
      ),
    ).toBeUndefined();
    expect(execs).toBe(0);
  });
});

describe("the allocator's options", () => {
  test("this Bun's mimalloc knows every MIMALLOC_* option the tuning sets and takes its value", () => {
    const mimalloc = Object.entries(JSC_TUNING).filter(([name]) => name.startsWith("MIMALLOC_"));
    expect(mimalloc.length).toBeGreaterThan(0);
    // mimalloc lists its options, as read, on stderr at start when verbose; an unknown name is not listed, so a
    // Bun whose allocator renamed or dropped one fails here instead of silently holding more memory.
    const r = Bun.spawnSync([process.execPath, "-e", "1"], {
      env: { PATH: process.env.PATH ?? "/usr/bin:/bin", MIMALLOC_VERBOSE: "1", ...Object.fromEntries(mimalloc) },
      stderr: "pipe",
    });
    const listed = r.stderr.toString();
    for (const [name, value] of mimalloc) {
      const option = name.slice("MIMALLOC_".length).toLowerCase();
      expect(listed).toMatch(new RegExp(`option '${option}': ${value}( KiB)?\\s*$`, "m"));
    }
  });
});

describe("the agent process", () => {
  test.skipIf(process.getuid?.() !== 0)("runs tuned under the same PID; its commands do not see the options", async () => {
    const fake = await consoleOf();
    const agent = agentFor(fake, tempDir());
    await fake.waitForBackhaul(30_000);
    const environ = readFileSync(`/proc/${agent.pid}/environ`, "utf8").split("\0");
    for (const [name, value] of Object.entries(JSC_TUNING)) expect(environ).toContain(`${name}=${value}`);
    const fin = await fake.waitForFin(fake.sendCommand({ shell: "system", line: "env", user: "root", group: "root" }), 30_000);
    expect(fin.success).toBe(true);
    expect(fin.result).toContain("PATH=");
    expect(fin.result).not.toContain("BUN_JSC_");
    expect(fin.result).not.toContain(TUNED_MARKER);
    // The options took effect: JSC's block warm-up helper thread (off by BUN_JSC_useWarmUpMarkedBlocks=0),
    // which an untuned process has started by now, does not run; the allocator's own thread does.
    const threads = readdirSync(`/proc/${agent.pid}/task`).map((tid) => {
      try {
        return readFileSync(`/proc/${agent.pid}/task/${tid}/comm`, "utf8").trim();
      } catch {
        return ""; // the thread ended between the listing and the read
      }
    });
    expect(threads).toContain("mi-scavenger");
    expect(threads).not.toContain("JSCWarmUp");
  });
});
