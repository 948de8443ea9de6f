// Command families loaded on first use: each family's body provides exactly the commands its index declares
// (names are written once, in the index), a family is loaded once however many commands race for it, the
// body's schema is checked before its run, and a failed load is a clear fin that the next command retries.
import { describe, expect, test } from "bun:test";
import * as v from "valibot";
import { packageCommands } from "../../src/capabilities/packages/packages.ts";
import { firewallBodies } from "../../src/capabilities/firewall/family.ts";
import { FIREWALL_SPECS } from "../../src/capabilities/firewall/index.ts";
import { FILE_SPECS } from "../../src/capabilities/files/index.ts";
import { PACKAGE_SPECS } from "../../src/capabilities/packages/index.ts";
import { TERMINAL_SPECS } from "../../src/capabilities/terminal/index.ts";
import { USER_SPECS } from "../../src/capabilities/users/index.ts";
import { ok, type CommandContext, type CommandResult } from "../../src/commands/contract.ts";
import { type FamilyBodies, lazyFamily, type LazySpec } from "../../src/commands/lazy.ts";
import { userCommands } from "../../src/capabilities/users/users.ts";
import { fileCommands } from "../../src/capabilities/files/commands.ts";
import { silentLogger } from "../../src/log/logger.ts";
import { systemClock } from "../../src/platform/clock.ts";
import { terminalCommands } from "../../src/capabilities/terminal/commands.ts";
import { TerminalRegistry } from "../../src/capabilities/terminal/registry.ts";

const unused = (() => {
  throw new Error("not called while building the bodies");
}) as never;
const ctx = (name: string, data: Record<string, unknown> = {}) =>
  ({
    id: "c1",
    args: [],
    line: name,
    data,
    user: null,
    group: null,
    env: null,
    signal: new AbortController().signal,
    log: silentLogger,
  }) as CommandContext;
const names = (specs: readonly LazySpec[]) => specs.map((s) => s.name).sort();
const provided = (bodies: FamilyBodies) => Object.keys(bodies).sort();
const run = (spec: { run(data: never, ctx: CommandContext): Promise<CommandResult> | CommandResult }, c: CommandContext) =>
  spec.run(c.data as never, c);

describe("lazy command families", () => {
  test("each family's body provides exactly the commands its index declares", () => {
    const deps = {
      runProcess: unused,
      lookupUser: unused,
      lookupGroup: unused,
      platform: unused,
      syncUsersAndGroups: unused,
      clock: systemClock,
      log: silentLogger,
    };
    expect(provided(userCommands(deps))).toEqual(names(USER_SPECS));
    expect(provided(packageCommands({ runProcess: unused, family: unused, version: "0", log: silentLogger, now: () => 0 }))).toEqual(
      names(PACKAGE_SPECS),
    );
    const files = fileCommands({
      http: unused,
      enqueue: unused,
      userAgent: "alpamon/test",
      log: silentLogger,
      signal: new AbortController().signal,
    });
    expect(provided(files)).toEqual(names(FILE_SPECS));
    expect(provided(terminalCommands({ http: unused, registry: new TerminalRegistry(1), log: silentLogger, clock: systemClock }))).toEqual(
      names(TERMINAL_SPECS),
    );
    const firewall = firewallBodies({ runProcess: unused, dataDir: "/nonexistent", clock: systemClock, log: silentLogger });
    expect(provided(firewall)).toEqual(names(FIREWALL_SPECS));
    expect(names(FIREWALL_SPECS)).toHaveLength(8);
  });

  test("loaded once on first use, even when commands race for it; then every command delegates", async () => {
    let loads = 0;
    const specs = lazyFamily(
      [
        { name: "a", summary: "A" },
        { name: "b", summary: "B" },
      ],
      async () => {
        loads++;
        await Bun.sleep(5);
        return { a: { run: () => ok("ran a") }, b: { run: () => ok("ran b") } };
      },
    );
    expect(loads).toBe(0); // nothing is loaded at registration
    expect(specs.map(({ name, summary }) => ({ name, summary }))).toEqual([
      { name: "a", summary: "A" },
      { name: "b", summary: "B" },
    ]);
    const [a, b] = specs;
    expect(await Promise.all([run(a!, ctx("a")), run(b!, ctx("b")), run(a!, ctx("a"))])).toEqual([ok("ran a"), ok("ran b"), ok("ran a")]);
    expect(loads).toBe(1);
  });

  test("the body's schema is checked before its run, worded by the one formatter", async () => {
    const seen: unknown[] = [];
    const [a] = lazyFamily([{ name: "a", summary: "A" }], async () => ({
      a: {
        data: v.object({ n: v.number("must be a number") }),
        run: (d: { n: number }) => {
          seen.push(d);
          return ok(`n=${d.n}`);
        },
      },
    }));
    expect(await run(a!, ctx("a", { n: "x" }))).toEqual({ exitCode: 1, result: "a: n must be a number" });
    expect(await run(a!, ctx("a", {}))).toEqual({ exitCode: 1, result: "a: n is required" });
    expect(await run(a!, ctx("a", { n: 2, extra: true }))).toEqual(ok("n=2"));
    expect(seen).toEqual([{ n: 2 }]); // only checked data reaches run, without unknown keys
  });

  test("a failed load fails the command with the reason, and the next command tries again", async () => {
    let loads = 0;
    const [a, gone] = lazyFamily(
      [
        { name: "a", summary: "A" },
        { name: "gone", summary: "G" },
      ],
      async () => {
        if (loads++ === 0) throw new Error("disk read error");
        return { a: { run: () => ok("ran a") } } as unknown as FamilyBodies<"a" | "gone">;
      },
    );
    expect(await run(a!, ctx("a"))).toEqual({ exitCode: 1, result: "a: could not load the command: disk read error" });
    expect(await run(a!, ctx("a"))).toEqual(ok("ran a"));
    expect(loads).toBe(2);
    expect(await run(gone!, ctx("gone"))).toEqual({ exitCode: 1, result: "gone: not provided by its command family" });
  });
});
