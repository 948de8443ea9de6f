// The dispatcher's timeouts and exit codes end to end: a spec's timeoutMs fins exit 124 with Go's duration,
// and the aborted signal makes a real runner (exec/runProcess) kill the command's whole process group.
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { fail, ok } from "../../src/commands/contract.ts";
import { Dispatcher, type SystemRunner } from "../../src/commands/dispatcher.ts";
import type { CommandFeedback, FinBody } from "../../src/commands/feedback.ts";
import { CommandRegistry } from "../../src/commands/registry.ts";
import { SeenCommandIds } from "../../src/commands/seen.ts";
import type { CommandEnvelope } from "../../src/console/protocol.ts";
import { runProcess } from "../../src/exec/run.ts";
import { silentLogger } from "../../src/log/logger.ts";
import { systemClock } from "../../src/platform/clock.ts";
import { Lifecycle } from "../../src/platform/lifecycle.ts";
import { eventually } from "../console/fake-console-waits.ts";

class Fins implements CommandFeedback {
  readonly fins = new Map<string, FinBody>();
  private next = 1;
  ack(): number {
    return this.next++;
  }
  fin(id: string, _ack: number, body: FinBody): void {
    this.fins.set(id, body);
  }
}

function envelope(id: string, line: string, shell = "internal"): CommandEnvelope {
  return { id, shell, line, user: null, group: null, env: null, data: null, allow_sh: null };
}

function setup(systemRunner?: SystemRunner) {
  const registry = new CommandRegistry();
  const feedback = new Fins();
  const lifecycle = new Lifecycle();
  const dispatcher = new Dispatcher({
    registry,
    feedback,
    seen: new SeenCommandIds(),
    log: silentLogger,
    clock: systemClock,
    signal: lifecycle.signal,
    ...(systemRunner ? { systemRunner } : {}),
  });
  return { registry, feedback, dispatcher };
}

/** Pids of live (not zombie) processes whose command line contains `marker`. */
function processesWith(marker: string): number[] {
  const found: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (!readFileSync(`/proc/${entry}/cmdline`, "utf8").includes(marker)) continue;
      if (/^\S+ \(.*\) Z/.test(readFileSync(`/proc/${entry}/stat`, "utf8"))) continue;
      found.push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  return found;
}

describe("exit_code in the fin", () => {
  test("the handler's code or the runner's status goes to exit_code; success is exit_code == 0", async () => {
    const { registry, feedback, dispatcher } = setup(async (command) =>
      command.line === "killed" ? { exitCode: -1, result: "" } : { exitCode: 3, result: "three" },
    );
    registry.register(
      { name: "fine", summary: "0", run: () => ok("yes") },
      { name: "bad", summary: "1", run: () => fail("no") },
      { name: "odd", summary: "3", run: () => ({ exitCode: 3, result: "odd" }) },
    );
    for (const [id, line] of [
      ["a", "fine"],
      ["b", "bad"],
      ["c", "odd"],
      ["d", "nosuch"],
    ])
      dispatcher.accept(envelope(id!, line!));
    dispatcher.accept(envelope("e", "exit3", "system"));
    dispatcher.accept(envelope("f", "killed", "system"));
    expect(await dispatcher.idle(5_000)).toBe(true);
    const codes = Object.fromEntries([...feedback.fins].map(([id, fin]) => [id, [fin.exit_code, fin.success]]));
    expect(codes).toEqual({ a: [0, true], b: [1, false], c: [3, false], d: [1, false], e: [3, false], f: [-1, false] });
  });
});

describe("a spec's timeout", () => {
  test("fins exit 124 with Go's duration and the aborted signal kills the runner's whole process group", async () => {
    const { registry, feedback, dispatcher } = setup();
    const marker = `${900 + Math.floor(Math.random() * 99)}.${process.pid}`;
    let ran: Promise<unknown> | undefined;
    registry.register({
      name: "nap",
      summary: "sleeps in a process group",
      timeoutMs: 1_200,
      run: async (_data, ctx) => {
        ran = runProcess({
          argv: ["sh", "-c", `sleep ${marker} & sleep ${marker}; wait`],
          env: { PATH: "/usr/bin:/bin" },
          signal: ctx.signal,
        });
        await ran;
        return ok("woke up");
      },
    });
    dispatcher.accept(envelope("t1", "nap"));
    await eventually(() => processesWith(`sleep\0${marker}`).length === 2, 3_000, "both sleeps to start");
    await eventually(() => feedback.fins.has("t1"), 5_000, "the fin");
    expect(feedback.fins.get("t1")).toMatchObject({ success: false, exit_code: 124, result: "Command timed out after 1s" });
    await ran;
    await eventually(() => processesWith(`sleep\0${marker}`).length === 0, 5_000, "the process group to be gone");
  });
});
