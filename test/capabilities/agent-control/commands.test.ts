// The agent's own commands as upstream-2026 §10.1 has them: `restart` takes its target from data (the older
// console's `restart collector` line still works), `restartcoll` is gone, and `help` is a sectioned list of
// exactly the registered commands.
import { describe, expect, test } from "bun:test";
import { agentCommands } from "../../../src/capabilities/agent-control/commands.ts";
import { helpText } from "../../../src/capabilities/agent-control/help.ts";
import { type AnyCommandSpec, type CommandContext, invoke } from "../../../src/commands/contract.ts";
import { CommandRegistry } from "../../../src/commands/registry.ts";
import { splitInternalLine } from "../../../src/commands/line.ts";
import { silentLogger } from "../../../src/log/logger.ts";
import { ManualClock } from "../../../src/platform/clock.ts";
import { Lifecycle } from "../../../src/platform/lifecycle.ts";

function setup(collector = true) {
  const clock = new ManualClock();
  const lifecycle = new Lifecycle();
  const registry = new CommandRegistry();
  let collectorRestarts = 0;
  const specs = agentCommands({
    registry,
    lifecycle,
    clock,
    reconnect: () => {},
    ...(collector ? { restartCollector: () => void collectorRestarts++ } : {}),
  });
  registry.register(...specs);
  const run = async (line: string, data: unknown = null) => {
    const [name, ...args] = splitInternalLine(line);
    const spec = registry.get(name!);
    if (!spec) return undefined;
    const ctx: CommandContext = {
      id: "c1",
      args,
      line,
      data: data as CommandContext["data"],
      user: null,
      group: null,
      env: null,
      signal: new AbortController().signal,
      log: silentLogger,
    };
    return await invoke(name!, spec, ctx);
  };
  return { clock, lifecycle, registry, run, collectorRestarts: () => collectorRestarts };
}

describe("restart", () => {
  test('data {"target":"collector"} restarts the collector a second later, not the agent', async () => {
    const s = setup();
    expect(await s.run("restart", { target: "collector" })).toEqual({ exitCode: 0, result: "Collector will be restarted." });
    expect(s.collectorRestarts()).toBe(0);
    await s.clock.advance(1000);
    expect(s.collectorRestarts()).toBe(1);
    expect(s.lifecycle.stopReason).toBeUndefined();
  });

  test("the older console's `restart collector` line still means the collector; data wins over the line", async () => {
    const s = setup();
    expect(await s.run("restart collector")).toEqual({ exitCode: 0, result: "Collector will be restarted." });
    await s.clock.advance(1000);
    expect(s.collectorRestarts()).toBe(1);
    expect(s.lifecycle.stopReason).toBeUndefined();

    expect(await s.run("restart collector", { target: "alpamon" })).toEqual({ exitCode: 0, result: "Alpamon will restart in 1 second." });
    await s.clock.advance(1000);
    expect(s.collectorRestarts()).toBe(1);
    expect(s.lifecycle.stopReason).toEqual({ kind: "restart" });
  });

  test("no target, or any other target, restarts the agent", async () => {
    for (const data of [null, {}, { target: null }, { target: "" }, { target: "alpamon" }]) {
      const s = setup();
      expect(await s.run("restart", data)).toEqual({ exitCode: 0, result: "Alpamon will restart in 1 second." });
      expect(s.lifecycle.stopReason).toBeUndefined();
      await s.clock.advance(1000);
      expect(s.lifecycle.stopReason).toEqual({ kind: "restart" });
      expect(s.collectorRestarts()).toBe(0);
    }
  });

  test("a target that is not a string is refused; a collector restart without a collector fails clearly", async () => {
    const s = setup(false);
    expect(await s.run("restart", { target: 5 })).toEqual({ exitCode: 1, result: "restart: target must be a string" });
    expect(await s.run("restart", { target: "collector" })).toEqual({ exitCode: 1, result: "The metrics collector is not running." });
    await s.clock.advance(1000);
    expect(s.lifecycle.stopReason).toBeUndefined();
  });

  test("restartcoll no longer exists", () => {
    const s = setup();
    expect(s.registry.get("restartcoll")).toBeUndefined();
    expect(s.registry.list().map((spec) => spec.name)).toEqual(["byebye", "help", "ping", "quit", "reconnect", "restart"]);
  });
});

describe("help", () => {
  const spec = (name: string): AnyCommandSpec => ({ name, summary: `does ${name}`, run: () => ({ exitCode: 0, result: "" }) });

  test("sections in a fixed order, commands sorted inside each, unknown names under Other", () => {
    const names = [
      "shutdown",
      "rm",
      "refreshpty",
      "deluser",
      "adduser",
      "ping",
      "restart",
      "firewall-rollback",
      "firewall",
      "mystery",
      "sync",
    ];
    expect(helpText(names.map(spec))).toBe(
      [
        "",
        "\t\tAvailable commands:",
        "",
        "\t\t[Agent]",
        "\t\tping: does ping",
        "\t\trestart: does restart",
        "",
        "\t\t[System]",
        "\t\tshutdown: does shutdown",
        "",
        "\t\t[Users and groups]",
        "\t\tadduser: does adduser",
        "\t\tdeluser: does deluser",
        "",
        "\t\t[Firewall]",
        "\t\tfirewall: does firewall",
        "\t\tfirewall-rollback: does firewall-rollback",
        "",
        "\t\t[Files]",
        "\t\trm: does rm",
        "",
        "\t\t[Terminal]",
        "\t\trefreshpty: does refreshpty",
        "",
        "\t\t[Server information]",
        "\t\tsync: does sync",
        "",
        "\t\t[Other]",
        "\t\tmystery: does mystery",
        "",
      ].join("\n"),
    );
  });

  test("the help command lists every registered command once and nothing else", async () => {
    const s = setup();
    s.registry.register(spec("refreshpty"), spec("rm"), spec("opentunnel"));
    const result = await s.run("help");
    expect(result?.exitCode).toBe(0);
    const listed = [...result!.result.matchAll(/^\t\t([\w-]+):/gm)].map((m) => m[1]);
    expect(listed.sort()).toEqual(s.registry.list().map((h) => h.name));
    expect(result!.result).toContain("\t\t[Tunnels]\n\t\topentunnel: does opentunnel\n");
    expect(result!.result).not.toContain("package install");
  });
});
