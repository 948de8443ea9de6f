// `byebye` (upstream-2026 §10.1, §10.6): the decision (which package manager owns the binary, and is it alpamon),
// the refusal where none does, and the order of what follows a reply: unregister, schedule the removal, stop.
// No package is ever removed here: the package-manager calls are fakes, except the read-only owner queries of
// the refusal tests, which run for real on this host.
import { describe, expect, test } from "bun:test";
import { realpathSync } from "node:fs";
import { removalScript, scheduleArgv, UNREGISTER_SELF_PATH } from "../../../src/capabilities/agent-control/byebye.ts";
import { agentCommands } from "../../../src/capabilities/agent-control/commands.ts";
import { CommandRegistry } from "../../../src/commands/registry.ts";
import type { CommandContext, CommandResult } from "../../../src/commands/contract.ts";
import type { HttpResult } from "../../../src/console/http.ts";
import { runProcess } from "../../../src/exec/run.ts";
import type { RunOptions, RunResult } from "../../../src/exec/types.ts";
import { silentLogger } from "../../../src/log/logger.ts";
import { systemClock } from "../../../src/platform/clock.ts";
import { Lifecycle } from "../../../src/platform/lifecycle.ts";

const done = (output: string, exitCode = 0): RunResult => ({ exitCode, output, omittedBytes: 0, timedOut: false });

interface Host {
  /** Output of a program (argv[0]) or a function of the argv; absent programs fail with exit 1. */
  answers?: Record<string, RunResult | ((argv: string[]) => RunResult)>;
  programs?: string[];
  systemd?: boolean;
  binary?: string;
  http?: HttpResult | "none";
}

function setup(host: Host) {
  const calls: string[][] = [];
  const requests: string[] = [];
  const events: string[] = [];
  const lifecycle = new Lifecycle();
  void lifecycle.stopped.then((r) => events.push(`stop ${r.kind}`));
  const fakeRun = async (options: RunOptions): Promise<RunResult> => {
    calls.push(options.argv);
    events.push(`run ${options.argv[0]}`);
    const answer = host.answers?.[options.argv[0]!];
    if (!answer) return done("", 1);
    return typeof answer === "function" ? answer(options.argv) : answer;
  };
  const reply = host.http === "none" ? undefined : (host.http ?? { status: 204, text: "" });
  const http =
    reply === undefined
      ? undefined
      : {
          request: async (method: string, path: string): Promise<HttpResult> => {
            requests.push(`${method} ${path}`);
            events.push("unregister");
            return reply;
          },
        };
  const registry = new CommandRegistry();
  const specs = agentCommands({
    registry,
    lifecycle,
    clock: systemClock,
    reconnect: () => {},
    actionDelayMs: 0,
    runProcess: fakeRun,
    ...(http ? { http } : {}),
    byebye: {
      binaryPath: () => host.binary ?? "/usr/bin/alpamon",
      hasSystemd: () => host.systemd ?? true,
      hasProgram: (name) => (host.programs ?? []).includes(name),
    },
  });
  const spec = specs.find((s) => s.name === "byebye")!;
  const ctx: CommandContext = {
    id: "c1",
    args: [],
    line: "byebye",
    data: {},
    user: null,
    group: null,
    env: null,
    signal: lifecycle.signal,
    log: silentLogger,
  };
  const run = async (): Promise<CommandResult> => await spec.run({}, ctx);
  return { run, calls, requests, events, lifecycle, spec };
}

const DPKG_OWNS = { "dpkg-query": done("alpamon: /usr/bin/alpamon\n") };

describe("byebye: the package manager that owns the binary decides", () => {
  test("the spec: 60 s, like quit and restart", () => {
    expect(setup({}).spec.timeoutMs).toBe(60_000);
  });

  test("dpkg owns it: reply, then unregister, schedule apt-get purge through systemd-run, then stop", async () => {
    const host = setup({ programs: ["dpkg-query", "apt-get", "systemd-run"], answers: { ...DPKG_OWNS, "systemd-run": done("") } });
    expect(await host.run()).toEqual({ exitCode: 0, result: "Starting uninstall process..." });
    await host.lifecycle.stopped;
    expect(host.requests).toEqual([`DELETE ${UNREGISTER_SELF_PATH}`]);
    expect(UNREGISTER_SELF_PATH).toBe("/api/servers/servers/-/unregister/");
    expect(host.calls).toEqual([
      ["dpkg-query", "-S", "/usr/bin/alpamon"],
      scheduleArgv("apt-get purge alpamon -y && apt-get autoremove -y", true),
    ]);
    expect(host.calls[1]!.slice(0, 4)).toEqual(["systemd-run", "--unit=alpamon-uninstall", "--on-active=5", "--collect"]);
    expect(host.events).toEqual(["run dpkg-query", "unregister", "run systemd-run", "stop quit"]);
  });

  test("an old systemd without --collect is asked again without it", async () => {
    const host = setup({
      programs: ["dpkg-query", "apt-get"],
      answers: { ...DPKG_OWNS, "systemd-run": (argv) => done("", argv.includes("--collect") ? 1 : 0) },
    });
    expect((await host.run()).exitCode).toBe(0);
    await host.lifecycle.stopped;
    expect(host.calls.slice(1).map((argv) => argv.includes("--collect"))).toEqual([true, false]);
  });

  test("rpm owns it: zypper where installed, else dnf, else yum; a detached shell without systemd", async () => {
    const rpm = { rpm: done("alpamon\n") };
    for (const [programs, script] of [
      [["rpm", "zypper", "yum"], "zypper --non-interactive remove alpamon"],
      [["rpm", "dnf", "yum"], "dnf remove alpamon -y"],
      [["rpm", "yum"], "yum remove alpamon -y"],
    ] as const) {
      const host = setup({ programs: [...programs], systemd: false, answers: { ...rpm, "/bin/sh": done("") } });
      expect((await host.run()).exitCode).toBe(0);
      await host.lifecycle.stopped;
      expect(host.calls[0]).toEqual(["rpm", "-qf", "--queryformat", "%{NAME}\\n", "/usr/bin/alpamon"]);
      expect(host.calls[1]).toEqual(["/bin/sh", "-c", `(sleep 5 && ${script}) </dev/null >/dev/null 2>&1 &`]);
    }
    expect(removalScript("yum")).toBe("yum remove alpamon -y");
  });

  test("a failed unregister is best effort: the removal and the stop still follow", async () => {
    const host = setup({
      programs: ["dpkg-query", "apt-get"],
      answers: { ...DPKG_OWNS, "systemd-run": done("") },
      http: { status: 0, text: "", error: "timed out" },
    });
    expect((await host.run()).exitCode).toBe(0);
    await host.lifecycle.stopped;
    expect(host.events).toEqual(["run dpkg-query", "unregister", "run systemd-run", "stop quit"]);
  });
});

describe("byebye: refusals change nothing (no unregister, no removal, no stop)", () => {
  const refusedCleanly = (host: ReturnType<typeof setup>) => {
    expect(host.requests).toEqual([]);
    expect(host.calls.filter((argv) => !["dpkg-query", "rpm"].includes(argv[0]!))).toEqual([]);
    expect(host.lifecycle.stopReason).toBeUndefined();
  };

  test("no package manager owns the binary", async () => {
    const host = setup({ programs: ["dpkg-query", "rpm", "apt-get"], binary: "/opt/alpamon/alpamon" });
    const out = await host.run();
    expect(out.exitCode).toBe(1);
    expect(out.result).toStartWith(
      "byebye: /opt/alpamon/alpamon is not installed by a package manager (dpkg or rpm); nothing was changed.",
    );
    expect(host.calls).toEqual([
      ["dpkg-query", "-S", "/opt/alpamon/alpamon"],
      ["rpm", "-qf", "--queryformat", "%{NAME}\\n", "/opt/alpamon/alpamon"],
    ]);
    refusedCleanly(host);
  });

  test("the binary belongs to another package (an agent run by a packaged runtime)", async () => {
    const host = setup({ programs: ["dpkg-query", "apt-get"], answers: { "dpkg-query": done("bun:amd64: /usr/bin/alpamon\n") } });
    expect(await host.run()).toEqual({
      exitCode: 1,
      result: "byebye: /usr/bin/alpamon belongs to the package bun, not alpamon; nothing was changed.",
    });
    refusedCleanly(host);
  });

  test("an rpm package but no yum, dnf or zypper", async () => {
    const host = setup({ programs: ["rpm"], answers: { rpm: done("alpamon\n") } });
    expect(await host.run()).toEqual({
      exitCode: 1,
      result: "byebye: alpamon is an rpm package but zypper, dnf, yum is not installed; nothing was changed.",
    });
    refusedCleanly(host);
  });

  test("without the console link", async () => {
    const host = setup({ programs: ["dpkg-query", "apt-get"], answers: DPKG_OWNS, http: "none" });
    expect((await host.run()).result).toBe("byebye: this agent has no console link to unregister through; nothing was changed.");
    expect(host.calls).toEqual([]);
    refusedCleanly(host);
  });

  test("for real on this host: the test runner's binary is owned by no package, or not by alpamon", async () => {
    const calls: string[][] = [];
    const lifecycle = new Lifecycle();
    const requests: string[] = [];
    const spec = agentCommands({
      registry: new CommandRegistry(),
      lifecycle,
      clock: systemClock,
      reconnect: () => {},
      actionDelayMs: 0,
      // Only the read-only owner queries may run; anything else would be a bug.
      runProcess: async (options) => {
        calls.push(options.argv);
        if (!["dpkg-query", "rpm"].includes(options.argv[0]!)) throw new Error(`unexpected ${options.argv[0]}`);
        return await runProcess(options);
      },
      http: {
        request: async (method, path) => {
          requests.push(`${method} ${path}`);
          return { status: 204, text: "" };
        },
      },
    }).find((s) => s.name === "byebye")!;
    const out = await spec.run(
      {},
      { id: "c", args: [], line: "byebye", data: {}, user: null, group: null, env: null, signal: lifecycle.signal, log: silentLogger },
    );
    expect(out.exitCode).toBe(1);
    expect(out.result).toMatch(
      /^byebye: .* (is not installed by a package manager \(dpkg or rpm\)|belongs to the package (?!alpamon\b)\S+, not alpamon); nothing was changed\./,
    );
    expect(out.result).toContain(realpathSync(process.execPath).split("/").pop()!);
    expect(calls.length).toBeGreaterThan(0);
    expect(requests).toEqual([]);
    await Bun.sleep(50);
    expect(lifecycle.stopReason).toBeUndefined();
  });
});
