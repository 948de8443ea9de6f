// The inventory helper: the agent's side (inventoryHelper: runs a process, reads its one line, replays its
// logs, turns every failure into a thrown error) against real processes, and the real helper from source.
import { describe, expect, test } from "bun:test";
import {
  COLLECT_SUBCOMMAND,
  inventoryHelper,
  readCommitOutput,
  readHelperOutput,
  type HelperDeps,
} from "../../../src/capabilities/inventory/collect-process.ts";
import type { CommitText } from "../../../src/capabilities/inventory/commit.ts";
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

describe("readCommitOutput", () => {
  const answer = (lines: number) => JSON.stringify({ snapshot: {}, logs: [], commit: { keys: 3, packages: 2, lines } });

  test("takes the lines the answer names, in order, after anything else the helper printed", () => {
    const out = readCommitOutput(`noise\n{"load":1}\n{"load":{"average":1}}\n{"chains":[]}\n${answer(3)}\n`);
    expect(out.commit).toEqual({
      body: '{"load":1}',
      legacyBody: '{"load":{"average":1}}',
      firewall: '{"chains":[]}',
      keys: 3,
      packages: 2,
    });
    const two = readCommitOutput(`{"chains":"not this run's"}\n{"a":1}\n{"a":2}\n${answer(2)}`);
    expect(two.commit).toEqual({ body: '{"a":1}', legacyBody: '{"a":2}', keys: 3, packages: 2 });
  });

  test("names what is wrong with a commit", () => {
    expect(() => readCommitOutput('{"a":1}\n{"snapshot":{},"logs":[]}')).toThrow("lacks the commit's keys, packages or lines");
    expect(() =>
      readCommitOutput(`{"a":1}\n${JSON.stringify({ snapshot: {}, logs: [], commit: { keys: 1, packages: 0, lines: 9 } })}`),
    ).toThrow("lines (2 or 3)");
    expect(() => readCommitOutput(`{"a":1}\n${answer(2)}`)).toThrow("is not 2 lines of JSON objects");
    expect(() => readCommitOutput(`{"a":1}\nSegmentation fault\n${answer(2)}`)).toThrow("is not 2 lines of JSON objects");
    expect(() => readCommitOutput(`{"a":1}\n\n${answer(2)}`)).toThrow("is not 2 lines of JSON objects");
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

  test("asks for a commit with the form and the agent's version, and returns its text as printed", async () => {
    const meta = JSON.stringify({
      snapshot: {},
      logs: [{ level: "info", message: "from the helper", fields: {} }],
      commit: { keys: 4, packages: 7, lines: 2 },
    });
    const { helper, logs, argvSeen } = scripted(
      `printf '%s\\n' '{"version":"1.2.3","load":0.5}' '{"version":"1.2.3","load":{"period":"1m","average":0.5}}' '${meta}'`,
    );
    const commit = await helper.commitText("older", "1.2.3");
    expect(commit).toEqual({
      body: '{"version":"1.2.3","load":0.5}',
      legacyBody: '{"version":"1.2.3","load":{"period":"1m","average":0.5}}',
      keys: 4,
      packages: 7,
    });
    expect(argvSeen).toEqual([[COLLECT_SUBCOMMAND, "commit-older", "--data-dir", "/var/lib/alpamon-test", "--agent-version", "1.2.3"]]);
    expect(logs).toEqual([{ level: "info", message: "from the helper", fields: {} }]);
    await expect(scripted(`printf '%s\\n' '${meta}'`).helper.commitText("2026", "1.2.3")).rejects.toThrow("is not 2 lines");
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

  test("a commit: the body, its 2024 form, then the answer; the agent's version; packages only in the older form", async () => {
    const older = await runCli([COLLECT_SUBCOMMAND, "commit-older", "--data-dir", tempDir(), "--agent-version", "9.8.7-agent"]);
    expect(older.code).toBe(0);
    // No firewall chains on this host (no table of the agent's), so no third line.
    expect(older.stdout.split("\n").length).toBe(4);
    const { answer, commit } = readCommitOutput(older.stdout);
    const body = JSON.parse(commit.body) as Record<string, unknown> & { packages: unknown[] };
    const legacy = JSON.parse(commit.legacyBody) as Record<string, unknown>;
    expect(body.version).toBe("9.8.7-agent");
    expect(typeof body.load).toBe("number");
    expect(legacy.load).toEqual({ period: "1m", average: body.load });
    expect({ ...legacy, load: body.load } as Record<string, unknown>).toEqual(body);
    expect(body.packages.length).toBeGreaterThan(0);
    expect(answer.commit).toEqual({ keys: Object.keys(body).length, packages: body.packages.length, lines: 2 });
    expect(body.sync_hashes).toBeUndefined();

    const current = readCommitOutput(
      (await runCli([COLLECT_SUBCOMMAND, "commit-2026", "--data-dir", tempDir(), "--agent-version", "9.8.7-agent"])).stdout,
    );
    const body2026 = JSON.parse(current.commit.body) as Record<string, unknown>;
    expect(body2026.version).toBe("9.8.7-agent");
    expect(body2026.packages).toBeUndefined();
    expect(Object.keys(body2026.sync_hashes as object)).toEqual(expect.arrayContaining(["info", "os", "users", "groups"]));
    expect(current.commit.packages).toBe(0);
  });

  test("a commit without --agent-version, or of an unknown form, is refused with exit 2", async () => {
    const bare = await runCli([COLLECT_SUBCOMMAND, "commit-older", "--data-dir", tempDir()]);
    expect(bare.code).toBe(2);
    expect(bare.stdout).toBe("");
    expect(bare.stderr).toContain("a commit needs --agent-version");
    const unknown = await runCli([COLLECT_SUBCOMMAND, "commit-2025", "--data-dir", tempDir(), "--agent-version", "1"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('"commit-2025"');
    expect(unknown.stderr).toContain("commit-2026, commit-older");
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
    // info and os for the sync-check first (the console's kind decides the form), then everything with packages
    // (a 2025 console's commit carries them).
    expect(asked[0]).toEqual(["info", "os"]);
    expect(asked[1]).toEqual(expect.arrayContaining(["users", "packages"]));
  });

  test("with a commit builder, the text it returns is stored and sent verbatim, in the form the console's kind asks for", async () => {
    const forms: string[] = [];
    const builder = async (form: string, version: string) => {
      forms.push(form);
      return text(form, version);
    };
    const text = (form: string, version: string): CommitText => ({
      // Not what JSON.stringify would write (spaces, key order): the agent must not have re-encoded it.
      body: `{ "version": "${version}", "load": 0.5, "form": "${form}" }`,
      legacyBody: `{ "version": "${version}", "load": {"period": "1m", "average": 0.5}, "form": "${form}" }`,
      keys: 3,
      packages: 12,
      firewall: '{ "chains": [{"name": "INPUT"}] }',
    });
    const older = await setup({ dialect: "2024", extra: { commitText: builder } });
    await older.inventory.commit();
    await older.delivered();
    const puts = older.fake.requests.filter((r) => r.method === "PUT" && r.path === "/api/servers/servers/-/commit/");
    // The 2024 console refuses the numeric load; the stored 2024 form goes next, as the helper wrote it.
    expect(puts.map((r) => [r.status, r.body])).toEqual([
      [400, text("older", "0.1.0-test").body],
      [200, text("older", "0.1.0-test").legacyBody],
    ]);
    const firewall = older.fake.requests.find((r) => r.path === "/api/firewall/agent/sync/");
    expect(firewall?.body).toBe('{ "chains": [{"name": "INPUT"}] }');
    expect(older.records.some((r) => r.message === "committed system information" && r.fields.packages === 12 && r.fields.keys === 3)).toBe(
      true,
    );

    const current = await setup({
      dialect: "2026",
      extra: { commitText: builder },
    });
    await current.inventory.commit();
    await current.delivered();
    const put = current.fake.requests.find((r) => r.method === "PUT" && r.path === "/api/servers/servers/-/commit/");
    expect(put?.body).toBe(text("2026", "0.1.0-test").body);
    expect(forms).toEqual(["older", "2026"]);
  });

  test("a commit builder that fails leaves a commit of the agent's version; the agent goes on", async () => {
    const t = await setup({
      extra: {
        commitText: async () => {
          throw new Error("the inventory helper exited with 1: boom");
        },
      },
    });
    await t.inventory.commit();
    await t.delivered();
    const put = t.fake.requests.find((r) => r.method === "PUT" && r.path === "/api/servers/servers/-/commit/");
    expect(put?.json).toEqual({ version: "0.1.0-test", load: 0 });
    const warning = t.warnings().find((r) => r.message.startsWith("could not collect the inventory; the commit carries only"));
    expect(String(warning?.fields.error)).toContain("boom");
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
