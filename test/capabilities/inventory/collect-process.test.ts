// The inventory helper: the agent's side (inventoryHelper: runs a process, reads its one line, replays its
// logs, turns every failure into a thrown error) against real processes, and the real helper from source.
import { describe, expect, test } from "bun:test";
import {
  COLLECT_SUBCOMMAND,
  inventoryHelper,
  readHelperOutput,
  type HelperDeps,
} from "../../../src/capabilities/inventory/collect-process.ts";
import { collectSnapshot } from "../../../src/capabilities/inventory/collect.ts";
import { hostCollectorEnv } from "../../../src/capabilities/inventory/collectors/env.ts";
import { runProcess } from "../../../src/exec/run.ts";
import type { Fields, Level, Logger } from "../../../src/log/logger.ts";
import { MAIN, runCli } from "../../helpers/cli.ts";
import { useTempDirs } from "../../helpers/tmp.ts";
import { eventually } from "../../console/fake-console-waits.ts";
import { useInventoryHarness, WAIT_MS } from "./harness.ts";

const tempDir = useTempDirs("alpamon-collect-");

function recordingLogger(into: { level: Level; message: string; fields: Fields }[]): Logger {
  const at =
    (level: Level) =>
    (message: string, fields: Fields = {}) =>
      void into.push({ level, message, fields });
  const logger: Logger = { debug: at("debug"), info: at("info"), warn: at("warn"), error: at("error"), child: () => logger };
  return logger;
}

/** A helper that is a shell script: it sees the helper's arguments as "$@". */
function scripted(script: string, extra: Partial<HelperDeps> = {}) {
  const logs: { level: Level; message: string; fields: Fields }[] = [];
  const argvSeen: string[][] = [];
  const helper = inventoryHelper({
    runProcess,
    argv: (args) => {
      argvSeen.push(args);
      return ["/bin/sh", "-c", script, "helper", ...args];
    },
    log: recordingLogger(logs),
    dataDir: "/var/lib/alpamon-test",
    ...extra,
  });
  return { helper, logs, argvSeen };
}

describe("readHelperOutput", () => {
  test("takes the last line, after anything else the helper printed", () => {
    const out = readHelperOutput('a warning from the runtime\n{"snapshot":{"os":{"name":"x"}},"logs":[]}\n');
    expect(out.snapshot).toEqual({ os: { name: "x" } } as never);
  });

  test("names what is wrong with an answer", () => {
    expect(() => readHelperOutput("Segmentation fault")).toThrow("not JSON");
    expect(() => readHelperOutput('{"logs":[]}')).toThrow("lacks snapshot or logs");
    expect(() => readHelperOutput('{"snapshot":[],"logs":[]}')).toThrow("lacks snapshot or logs");
    expect(() => readHelperOutput('{"snapshot":{},"logs":[],"firewall":{}}')).toThrow("firewall is not a list");
  });
});

describe("inventoryHelper", () => {
  test("asks for the keys, returns only those, and writes the helper's logs to the agent's log", async () => {
    const line = JSON.stringify({
      snapshot: { os: { name: "debian" }, info: { uuid: "u" }, users: [] },
      logs: [
        { level: "warn", message: "could not collect this inventory key; it is left out", fields: { key: "time" } },
        { level: "loud", message: "unknown level", fields: {} },
      ],
    });
    const { helper, logs, argvSeen } = scripted(`printf '%s\\n' '${line}'`);
    const snapshot = await helper.collect(["os", "info"]);
    expect(snapshot).toEqual({ os: { name: "debian" }, info: { uuid: "u" } } as never);
    expect(argvSeen).toEqual([[COLLECT_SUBCOMMAND, "os,info", "--data-dir", "/var/lib/alpamon-test"]]);
    expect(logs).toEqual([
      { level: "warn", message: "could not collect this inventory key; it is left out", fields: { key: "time" } },
      { level: "warn", message: "unknown level", fields: {} },
    ]);
  });

  test("asks for the firewall chains with the firewall part", async () => {
    const { helper, argvSeen } = scripted(`printf '%s\\n' '{"snapshot":{},"logs":[],"firewall":[{"chain":"INPUT"}]}'`);
    expect(await helper.firewallChains()).toEqual([{ chain: "INPUT" }]);
    expect(argvSeen[0]?.slice(0, 2)).toEqual([COLLECT_SUBCOMMAND, "firewall"]);
  });

  test("a helper that fails, hangs, talks too much or cannot start is an error naming why", async () => {
    await expect(scripted("echo 'alpamon inventory-collect: not a key' >&2; exit 2").helper.collect(["os"])).rejects.toThrow(
      "exited with 2: alpamon inventory-collect: not a key",
    );
    await expect(scripted("sleep 5", { timeoutMs: 300 }).helper.collect(["os"])).rejects.toThrow("did not finish within 0.3 s");
    await expect(scripted("head -c 5000 /dev/zero", { maxOutputBytes: 1000 }).helper.collect(["os"])).rejects.toThrow(
      "larger than 1000 bytes",
    );
    const stopping = new AbortController();
    setTimeout(() => stopping.abort(), 200);
    const started = performance.now();
    await expect(scripted("sleep 30").helper.collect(["os"], stopping.signal)).rejects.toThrow("was stopped");
    // Killed, not waited for: the helper would sleep 30 s.
    expect(performance.now() - started).toBeLessThan(20_000);
    const stopped = scripted("echo started > /dev/null");
    await expect(stopped.helper.collect(["os"], AbortSignal.abort())).rejects.toThrow("not started");
    expect(stopped.argvSeen).toEqual([]);
    const missing = inventoryHelper({ runProcess, argv: () => ["/nonexistent-alpamon-helper"], log: recordingLogger([]), dataDir: "/" });
    await expect(missing.collect(["os"])).rejects.toThrow("could not start");
  });

  test("the real helper, from source, collects this machine as the in-process collectors do", async () => {
    const helper = inventoryHelper({
      runProcess,
      argv: (args) => [process.execPath, MAIN, ...args],
      log: recordingLogger([]),
      dataDir: tempDir(),
    });
    const keys = ["os", "info", "users", "groups"] as const;
    const snapshot = await helper.collect(keys);
    const here = await collectSnapshot(hostCollectorEnv("test", Date.now), recordingLogger([]), keys);
    expect(Object.keys(snapshot).sort()).toEqual([...keys].sort());
    expect(snapshot.os).toEqual(here.os!);
    expect(snapshot.info).toEqual(here.info!);
    // Accounts made by other tests running at the same time may come and go: the ones every host has.
    for (const name of ["root", "daemon"]) {
      expect(snapshot.users!.find((u) => u.username === name)).toEqual(here.users!.find((u) => u.username === name)!);
      expect(snapshot.groups!.find((g) => g.groupname === name)).toEqual(here.groups!.find((g) => g.groupname === name)!);
    }
  });
});

describe("the inventory-collect subcommand", () => {
  test("refuses an unknown or repeated key with exit 2, naming it", async () => {
    for (const what of ["os,bogus", "os,os", "firewall,firewall", ""]) {
      const r = await runCli([COLLECT_SUBCOMMAND, what, "--data-dir", tempDir()]);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe("");
      expect(r.stderr).toContain("not a key to collect");
    }
  });

  test("prints exactly one JSON line", async () => {
    const r = await runCli([COLLECT_SUBCOMMAND, "server,time,firewall", "--data-dir", tempDir()]);
    expect(r.code).toBe(0);
    const lines = r.stdout.split("\n");
    expect(lines.length).toBe(2);
    expect(lines[1]).toBe("");
    const out = readHelperOutput(r.stdout);
    expect(Object.keys(out.snapshot).sort()).toEqual(["server", "time"]);
    // The host has no table of the agent's, so no chains; the answer carries the list all the same (the rules
    // themselves are the firewall capability's tests).
    expect(out.firewall).toEqual([]);
    // Without the firewall part, no firewall in the answer.
    const without = await runCli([COLLECT_SUBCOMMAND, "server", "--data-dir", tempDir()]);
    expect(readHelperOutput(without.stdout).firewall).toBeUndefined();
  });
});

describe("the inventory with a collector", () => {
  const { setup } = useInventoryHarness();

  test("commits what the collector returns (the helper's keys, not this process's collectors)", async () => {
    const asked: string[][] = [];
    const t = await setup({
      extra: {
        collect: async (keys) => {
          asked.push([...keys]);
          return keys.includes("os") ? { os: { name: "from-the-helper" } as never } : {};
        },
      },
    });
    await t.inventory.commit();
    await t.delivered();
    const put = t.fake.requests.find((r) => r.method === "PUT" && r.path === "/api/servers/servers/-/commit/");
    expect(put).toBeDefined();
    expect((put!.json as { os?: unknown }).os).toEqual({ name: "from-the-helper" });
    // Everything but packages, then packages (a 2025 console's commit carries them).
    expect(asked[0]).toContain("users");
    expect(asked[1]).toEqual(["packages"]);
  });

  test("the server key carries this agent's version, not the helper's (a binary upgraded on disk)", async () => {
    const t = await setup({
      extra: {
        collect: async (keys) => (keys.includes("server") ? { server: { version: "9.9.9-newer", load: 0.25 } } : {}),
      },
    });
    await t.inventory.sync(["server"]);
    await t.delivered();
    const patch = t.fake.requests.find((r) => r.method === "PATCH" && r.path === "/api/servers/servers/-/sync/");
    expect(patch).toBeDefined();
    expect((patch!.json as { version?: unknown }).version).toBe("0.1.0-test");
  });

  test("a collection stopped because the inventory stops is no warning", async () => {
    let asked = 0;
    const t = await setup({
      extra: {
        collect: (_keys, signal) => {
          asked++;
          // As runProcess does: an aborted signal stops the helper at once, also one aborted before the start.
          return new Promise((_resolve, reject) => {
            const stopped = () => reject(new Error("the inventory helper was stopped"));
            if (signal.aborted) stopped();
            else signal.addEventListener("abort", stopped);
          });
        },
      },
    });
    t.inventory.start(false);
    const commit = t.inventory.commit().catch(() => {});
    await eventually(() => asked > 0, WAIT_MS, "the collection to start");
    await t.inventory.stop();
    await commit;
    expect(t.records.some((r) => r.level === "debug" && r.message === "the inventory stopped during a collection")).toBe(true);
    expect(t.warnings().filter((r) => r.message.startsWith("could not collect"))).toEqual([]);
  });

  test("a collector that fails leaves the keys out and says so; the agent goes on", async () => {
    const t = await setup({
      extra: {
        collect: async () => {
          throw new Error("the inventory helper exited with 1: boom");
        },
      },
    });
    await t.inventory.commit();
    await t.delivered();
    const put = t.fake.requests.find((r) => r.method === "PUT" && r.path === "/api/servers/servers/-/commit/");
    expect(put).toBeDefined();
    const body = put!.json as Record<string, unknown>;
    expect(body.version).toBe("0.1.0-test");
    expect(body.users).toBeUndefined();
    expect(body.packages).toBeUndefined();
    const warning = t.warnings().find((r) => r.message === "could not collect the inventory; these keys are left out");
    expect(String(warning?.fields.error)).toContain("boom");
  });
});
