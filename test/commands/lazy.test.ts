// Command families loaded on first use: the stand-ins' names and summaries are the families' own, a family
// is loaded once however many commands race for it, and a failed load is a clear fin that the next command
// retries.
import { describe, expect, test } from "bun:test";
import { packageCommands } from "../../src/capabilities/packages/packages.ts";
import { FILE_SPECS } from "../../src/capabilities/files/index.ts";
import { PACKAGE_SPECS } from "../../src/capabilities/packages/index.ts";
import { TERMINAL_SPECS } from "../../src/capabilities/terminal/index.ts";
import { USER_SPECS } from "../../src/capabilities/users/index.ts";
import { lazyFamily } from "../../src/commands/lazy.ts";
import { ok, type CommandContext, type CommandHandler } from "../../src/commands/registry.ts";
import { userCommands } from "../../src/capabilities/users/users.ts";
import { fileCommands } from "../../src/capabilities/files/commands.ts";
import { silentLogger } from "../../src/log/logger.ts";
import { systemClock } from "../../src/platform/clock.ts";
import { terminalCommands } from "../../src/capabilities/terminal/commands.ts";
import { TerminalRegistry } from "../../src/capabilities/terminal/registry.ts";

const unused = (() => {
  throw new Error("not called while building handlers");
}) as never;
const specsOf = (handlers: CommandHandler[]) => handlers.map(({ name, summary }) => ({ name, summary }));
const ctx = (name: string) => ({ id: "c1", args: [], line: name, data: null, user: null, group: null, env: null, signal: new AbortController().signal, log: silentLogger }) as unknown as CommandContext;

describe("lazy command families", () => {
  test("the stand-ins name and describe exactly what each family provides", () => {
    const deps = { runProcess: unused, lookupUser: unused, lookupGroup: unused, platform: unused, syncUsersAndGroups: unused, clock: systemClock, log: silentLogger };
    expect(USER_SPECS).toEqual(specsOf(userCommands(deps)));
    expect(PACKAGE_SPECS).toEqual(specsOf(packageCommands({ runProcess: unused, family: unused, version: "0", log: silentLogger, now: () => 0 })));
    const files = fileCommands({ http: unused, enqueue: unused, userAgent: "alpamon/test", log: silentLogger, signal: new AbortController().signal });
    expect(FILE_SPECS).toEqual(specsOf(files));
    expect(TERMINAL_SPECS).toEqual(specsOf(terminalCommands({ http: unused, registry: new TerminalRegistry(1), log: silentLogger, clock: systemClock })));
  });

  test("loaded once on first use, even when commands race for it; then every command delegates", async () => {
    let loads = 0;
    const handlers = lazyFamily(
      [{ name: "a", summary: "A" }, { name: "b", summary: "B" }],
      async () => {
        loads++;
        await Bun.sleep(5);
        return [{ name: "a", summary: "A", run: () => ok("ran a") }, { name: "b", summary: "B", run: () => ok("ran b") }];
      },
    );
    expect(loads).toBe(0); // nothing is loaded at registration
    const [a, b] = handlers;
    expect(await Promise.all([a!.run(ctx("a")), b!.run(ctx("b")), a!.run(ctx("a"))])).toEqual([ok("ran a"), ok("ran b"), ok("ran a")]);
    expect(loads).toBe(1);
  });

  test("a failed load fails the command with the reason, and the next command tries again", async () => {
    let loads = 0;
    const [a] = lazyFamily([{ name: "a", summary: "A" }, { name: "gone", summary: "G" }], async () => {
      if (loads++ === 0) throw new Error("disk read error");
      return [{ name: "a", summary: "A", run: () => ok("ran a") }];
    });
    expect(await a!.run(ctx("a"))).toEqual({ exitCode: 1, result: "a: could not load the command: disk read error" });
    expect(await a!.run(ctx("a"))).toEqual(ok("ran a"));
    expect(loads).toBe(2);
  });
});
