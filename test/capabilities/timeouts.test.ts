// Every internal command carries its family's timeout (upstream-2026 §2.4) on the spec the registry holds,
// where the dispatcher reads it; the lazy families declare it in their index, next to the name.
import { Database } from "bun:sqlite";
import { migrate } from "../../src/db/migrate.ts";
import { describe, expect, test } from "bun:test";
import { agentCommands } from "../../src/capabilities/agent-control/commands.ts";
import { createFiles } from "../../src/capabilities/files/index.ts";
import { createFirewall } from "../../src/capabilities/firewall/index.ts";
import { createInventory } from "../../src/capabilities/inventory/index.ts";
import { createPackages } from "../../src/capabilities/packages/index.ts";
import { createPower } from "../../src/capabilities/power/index.ts";
import { createTerminal } from "../../src/capabilities/terminal/index.ts";
import { createUsers } from "../../src/capabilities/users/index.ts";
import type { AnyCommandSpec } from "../../src/commands/contract.ts";
import { CommandRegistry } from "../../src/commands/registry.ts";
import { silentLogger } from "../../src/log/logger.ts";
import { systemClock } from "../../src/platform/clock.ts";
import { Lifecycle } from "../../src/platform/lifecycle.ts";

const MIN = 60_000;
const timeouts = (specs: readonly AnyCommandSpec[] | undefined) => Object.fromEntries((specs ?? []).map((s) => [s.name, s.timeoutMs]));
const platform = () => {
  throw new Error("not used");
};

describe("timeouts per family (upstream-2026 §2.4)", () => {
  test("users 2 min, deluser 5 min, groups 30 s", () => {
    expect(timeouts(createUsers({ platform, syncUsersAndGroups: () => {}, clock: systemClock, log: silentLogger }).commands)).toEqual({
      adduser: 2 * MIN,
      moduser: 2 * MIN,
      deluser: 5 * MIN,
      addgroup: 30_000,
      delgroup: 30_000,
    });
  });

  test("update and upgrade 30 min", () => {
    expect(timeouts(createPackages({ platform, version: "0", clock: systemClock, log: silentLogger }).commands)).toEqual({
      update: 30 * MIN,
      upgrade: 30 * MIN,
    });
  });

  test("file commands 10 min", () => {
    const files = createFiles({ http: {} as never, enqueue: () => 1, userAgent: "alpamon/test", log: silentLogger });
    expect(timeouts(files.commands)).toEqual({ openftp: 10 * MIN, download: 10 * MIN, upload: 10 * MIN, rm: 10 * MIN });
  });

  test("reboot, shutdown, quit, restart and byebye 60 s; ping, help and reconnect none", () => {
    const power = createPower({ clock: systemClock, log: silentLogger, signal: new AbortController().signal });
    expect(timeouts(power.commands)).toEqual({ reboot: MIN, shutdown: MIN });
    const agent = agentCommands({ registry: new CommandRegistry(), lifecycle: new Lifecycle(), clock: systemClock, reconnect: () => {} });
    expect(timeouts(agent)).toEqual({
      ping: undefined,
      help: undefined,
      reconnect: undefined,
      quit: MIN,
      restart: MIN,
      byebye: MIN,
    });
  });

  test("every firewall command 2 min", () => {
    const specs = createFirewall({} as never, {} as never).commands;
    expect(specs.length).toBeGreaterThan(5);
    for (const spec of specs) expect({ [spec.name]: spec.timeoutMs }).toEqual({ [spec.name]: 2 * MIN });
  });

  test("commit and sync (upstream's info handler) 30 s", () => {
    const sqlite = new Database(":memory:");
    migrate(sqlite);
    const inventory = createInventory({
      state: { sqlite },
      http: {} as never,
      outbox: {} as never,
      log: silentLogger,
      clock: systemClock,
      version: "0",
      firewallChains: async () => [],
      commissioned: () => false,
    } as never);
    expect(timeouts(inventory.commands)).toEqual({ commit: 30_000, sync: 30_000 });
    sqlite.close();
  });

  test("terminal commands have none (upstream's terminal handler sets none)", () => {
    const terminal = createTerminal({ http: {} as never, log: silentLogger, clock: systemClock });
    expect(timeouts(terminal.commands)).toEqual({ openpty: undefined, resizepty: undefined, refreshpty: undefined });
  });
});
