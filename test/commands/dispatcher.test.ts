import { describe, expect, test } from "bun:test";
import { agentCommands } from "../../src/capabilities/agent-control/commands.ts";
import {
  cannotRecord,
  capResult,
  Dispatcher,
  MAX_WAITING_COMMANDS,
  MAX_WAITING_TEXT,
  TOO_MANY_WAITING,
  TOO_MUCH_WAITING,
  timedOut,
} from "../../src/commands/dispatcher.ts";
import type { CommandFeedback, FinBody } from "../../src/commands/feedback.ts";
import { splitInternalLine } from "../../src/commands/line.ts";
import * as v from "valibot";
import { command as command_ } from "../../src/commands/contract.ts";
import { CommandRegistry, ok } from "../../src/commands/registry.ts";
import { SeenCommandIds } from "../../src/commands/seen.ts";
import type { CommandEnvelope } from "../../src/console/protocol.ts";
import { LogHub, silentLogger, type LogRecord, type Logger } from "../../src/log/logger.ts";
import { ManualClock } from "../../src/platform/clock.ts";
import { Lifecycle } from "../../src/platform/lifecycle.ts";

/** Records acks and fins in order, like the outbox would receive them; `failing` makes recording throw. */
class RecordingFeedback implements CommandFeedback {
  events: string[] = [];
  fins = new Map<string, FinBody>();
  directs = new Map<string, FinBody>();
  failing: { ack?: Error; fin?: Error } = {};
  private next = 1;
  ack(id: string): number {
    if (this.failing.ack) throw this.failing.ack;
    this.events.push(`ack ${id}`);
    return this.next++;
  }
  fin(id: string, ack: number, body: FinBody): void {
    if (this.failing.fin) throw this.failing.fin;
    this.events.push(`fin ${id} after ${ack}`);
    this.fins.set(id, body);
  }
  direct(id: string, body: FinBody): boolean {
    this.events.push(`direct ${id}`);
    this.directs.set(id, body);
    return true;
  }
}

/** What bun:sqlite throws when the disk is full. */
function diskFull(): Error {
  return Object.assign(new Error("database or disk is full"), { code: "SQLITE_FULL" });
}

function command(id: string, line: string, extra: Partial<CommandEnvelope> = {}): CommandEnvelope {
  return { id, shell: "internal", line, user: null, group: null, env: null, data: null, allow_sh: null, ...extra };
}

/**
 * Lets microtasks and immediates run until `condition` holds, calling `step` before each turn (to open a gate);
 * fails after `limit` turns instead of hanging. The handlers here settle through promises only, so no real
 * time has to pass.
 */
async function turnsUntil(condition: () => boolean, what: string, step?: () => void, limit = 20_000): Promise<void> {
  for (let i = 0; i < limit; i++) {
    if (condition()) return;
    step?.();
    await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Lets every pending microtask and immediate run, so "nothing more happened" means nothing. */
async function quiet(): Promise<void> {
  for (let i = 0; i < 50; i++) await new Promise((resolve) => setImmediate(resolve));
}

function setup(maxConcurrent = 4, maxResultBytes = 4096, log: Logger = silentLogger) {
  const clock = new ManualClock();
  const lifecycle = new Lifecycle();
  const registry = new CommandRegistry();
  const feedback = new RecordingFeedback();
  const reconnects: string[] = [];
  registry.register(...agentCommands({ registry, lifecycle, clock, reconnect: (r) => reconnects.push(r) }));
  const dispatcher = new Dispatcher({
    registry,
    feedback,
    seen: new SeenCommandIds(),
    log,
    clock,
    signal: lifecycle.signal,
    maxConcurrent,
    maxResultBytes,
  });
  return { clock, lifecycle, registry, feedback, dispatcher, reconnects };
}

describe("dispatcher", () => {
  test("acks on receipt and fins after, with success and elapsed time", async () => {
    const { dispatcher, feedback } = setup();
    dispatcher.accept(command("c1", "ping"));
    expect(feedback.events).toEqual(["ack c1"]);
    await dispatcher.idle(1000);
    expect(feedback.events).toEqual(["ack c1", "fin c1 after 1"]);
    const fin = feedback.fins.get("c1")!;
    expect(fin.success).toBe(true);
    expect(fin.result).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)$/);
    expect(typeof fin.elapsed_time).toBe("number");
  });

  test("elapsed_time is in seconds: a handler that takes 2500 ms on the injected clock fins with 2.5", async () => {
    const { dispatcher, feedback, registry, clock } = setup();
    registry.register({
      name: "nap",
      summary: "sleeps on the clock",
      run: async () => {
        await clock.sleep(2500);
        return ok("rested");
      },
    });
    dispatcher.accept(command("e1", "nap"));
    await turnsUntil(() => clock.pending === 1, "the handler to sleep");
    await clock.advance(2500);
    expect(await dispatcher.idle(1000)).toBe(true);
    expect(feedback.fins.get("e1")).toEqual({ success: true, result: "rested", elapsed_time: 2.5, exit_code: 0 });
    // A refusal fins at once: no time passed on the clock, so 0 seconds.
    dispatcher.reject("e2", "invalid command: nope");
    expect(feedback.fins.get("e2")!.elapsed_time).toBe(0);
  });

  test("unknown command, blank line, bad shell and malformed data each fin with a clear failure", async () => {
    const { dispatcher, feedback } = setup();
    dispatcher.accept(command("u1", "frobnicate now"));
    dispatcher.accept(command("u2", "   "));
    dispatcher.accept(command("u3", "ls", { shell: "osquery" }));
    dispatcher.accept(command("u4", "ping", { data: "{not json" }));
    dispatcher.accept(command("u5", "ping", { data: "[1,2]" }));
    await dispatcher.idle(1000);
    const failed = { success: false, exit_code: 1 };
    expect(feedback.fins.get("u1")).toMatchObject({ ...failed, result: "Unknown command: frobnicate" });
    expect(feedback.fins.get("u2")).toMatchObject({ ...failed, result: "No command provided" });
    expect(feedback.fins.get("u3")).toMatchObject({ ...failed, result: "Invalid command shell argument." });
    expect(feedback.fins.get("u4")).toMatchObject({ ...failed, result: "internal command: data is not valid JSON" });
    expect(feedback.fins.get("u5")).toMatchObject({ ...failed, result: "internal command: data must be a JSON object" });
  });

  test("data is checked once against the spec's schema before run; a failure is worded by the one formatter", async () => {
    const { dispatcher, feedback, registry } = setup();
    const seen: unknown[] = [];
    registry.register(
      command_({
        name: "greet",
        summary: "typed data",
        data: v.object({ who: v.pipe(v.string("must be a string"), v.nonEmpty("is required")) }),
        run: (d) => {
          seen.push(d);
          return ok(`hello ${d.who}`);
        },
      }),
      command_({
        name: "first",
        summary: "first issue",
        data: v.object({ n: v.number("n: must be a number") }),
        invalid: { prefix: "Invalid data: ", style: "first" },
        run: () => ok("ran"),
      }),
    );
    dispatcher.accept(command("v1", "greet", { data: JSON.stringify({ who: "bob", extra: 1 }) }));
    dispatcher.accept(command("v2", "greet", { data: JSON.stringify({ who: 7 }) }));
    dispatcher.accept(command("v3", "greet"));
    dispatcher.accept(command("v4", "first", { data: JSON.stringify({ n: "x" }) }));
    await dispatcher.idle(1000);
    expect(feedback.fins.get("v1")).toMatchObject({ success: true, result: "hello bob" });
    expect(feedback.fins.get("v2")).toMatchObject({ success: false, result: "greet: who must be a string" });
    expect(feedback.fins.get("v3")).toMatchObject({ success: false, result: "greet: who is required" });
    expect(feedback.fins.get("v4")).toMatchObject({ success: false, result: "Invalid data: n: must be a number" });
    expect(seen).toEqual([{ who: "bob" }]);
  });

  test("a spec's timeout aborts the command's signal and fins with exit 124; the stop signal still reaches it", async () => {
    const { dispatcher, feedback, registry, clock, lifecycle } = setup();
    const signals: AbortSignal[] = [];
    const hang = (_d: unknown, ctx: { signal: AbortSignal }) => {
      signals.push(ctx.signal);
      return new Promise<never>(() => {});
    };
    registry.register(
      { name: "hang", summary: "never answers", timeoutMs: 1500, run: hang },
      { name: "stuck", summary: "no timeout", run: hang },
    );
    dispatcher.accept(command("t1", "hang"));
    await turnsUntil(() => clock.pending === 1 && signals.length === 1, "the timer");
    await clock.advance(1499);
    await quiet();
    expect(feedback.fins.has("t1")).toBe(false);
    expect(signals[0]!.aborted).toBe(false);
    await clock.advance(1);
    expect(await dispatcher.idle(1000)).toBe(true);
    expect(feedback.fins.get("t1")).toEqual({ success: false, result: "Command timed out after 1s", elapsed_time: 1.5, exit_code: 124 });
    expect(timedOut(30 * 60_000)).toBe("Command timed out after 30m0s");
    expect(signals[0]!.aborted).toBe(true);
    expect(clock.pending).toBe(0);
    // A command with a timeout that finishes in time leaves no timer behind.
    registry.register({ name: "quick", summary: "answers", timeoutMs: 1500, run: () => ok("done") });
    dispatcher.accept(command("t2", "quick"));
    await dispatcher.idle(1000);
    expect(feedback.fins.get("t2")).toMatchObject({ success: true, result: "done" });
    expect(clock.pending).toBe(0);
    // The agent's stop signal reaches a command with a timeout and one without.
    registry.register({ name: "hang2", summary: "never answers", timeoutMs: 60_000, run: hang });
    dispatcher.accept(command("t3", "hang2"));
    dispatcher.accept(command("t4", "stuck"));
    await turnsUntil(() => signals.length === 3, "both commands to start");
    lifecycle.requestStop({ kind: "quit" });
    expect(signals[1]!.aborted).toBe(true);
    expect(signals[2]!.aborted).toBe(true);
  });

  test("a handler that throws becomes a failed fin; the dispatcher keeps working", async () => {
    const { dispatcher, feedback, registry } = setup();
    registry.register({
      name: "boom",
      summary: "throws",
      run: () => {
        throw new Error("kaput");
      },
    });
    dispatcher.accept(command("b1", "boom"));
    dispatcher.accept(command("b2", "ping"));
    await dispatcher.idle(1000);
    expect(feedback.fins.get("b1")).toMatchObject({ success: false, result: "internal error: kaput", exit_code: 1 });
    expect(feedback.fins.get("b2")!.success).toBe(true);
  });

  test("a command id seen in the last hour runs once; after the window it runs again", async () => {
    const { dispatcher, feedback, clock } = setup();
    dispatcher.accept(command("d1", "ping"));
    dispatcher.accept(command("d1", "ping"));
    await dispatcher.idle(1000);
    expect(feedback.events.filter((e) => e.startsWith("ack d1"))).toHaveLength(1);
    await clock.advance(60 * 60 * 1000 + 1);
    dispatcher.accept(command("d1", "ping"));
    expect(feedback.events.filter((e) => e.startsWith("ack d1"))).toHaveLength(2);
  });

  test("the concurrency limit queues commands instead of running them all at once", async () => {
    const { dispatcher, feedback, registry } = setup(2);
    let running = 0;
    let peak = 0;
    const gates: (() => void)[] = [];
    registry.register({
      name: "slow",
      summary: "waits",
      run: async () => {
        running++;
        peak = Math.max(peak, running);
        await new Promise<void>((resolve) => gates.push(resolve));
        running--;
        return ok("done");
      },
    });
    for (let i = 0; i < 5; i++) dispatcher.accept(command(`s${i}`, "slow"));
    await turnsUntil(() => running === 2, "two commands running");
    await quiet();
    expect(running).toBe(2); // and no third one started meanwhile
    expect(gates).toHaveLength(2);
    await turnsUntil(
      () => feedback.fins.size === 5,
      "five fins",
      () => gates.shift()?.(),
    );
    expect(peak).toBe(2);
    expect(feedback.events.filter((e) => e.startsWith("ack"))).toHaveLength(5);
  });

  test("beyond the bound of waiting commands each one is acked and refused with a clear fin, and every ack gets a fin", async () => {
    const { dispatcher, feedback, registry } = setup(1);
    const gates: (() => void)[] = [];
    registry.register({ name: "slow", summary: "waits", run: () => new Promise((resolve) => gates.push(() => resolve(ok("done")))) });
    const total = 1 + MAX_WAITING_COMMANDS + 3;
    for (let i = 0; i < total; i++) dispatcher.accept(command(`q${i}`, "slow"));
    const refused = [...feedback.fins].filter(([, fin]) => fin.result === TOO_MANY_WAITING && !fin.success).map(([id]) => id);
    expect(refused).toEqual([`q${total - 3}`, `q${total - 2}`, `q${total - 1}`]);
    await turnsUntil(
      () => feedback.fins.size === total,
      "every fin",
      () => gates.shift()?.(),
    );
    expect(feedback.events.filter((e) => e.startsWith("ack"))).toHaveLength(total);
    dispatcher.accept(command("after", "slow")); // room again
    await turnsUntil(
      () => feedback.fins.has("after"),
      "the fin of the command after",
      () => gates.shift()?.(),
    );
    expect(feedback.fins.get("after")).toMatchObject({ success: true, result: "done" });
  });

  test("waiting commands are bounded by the text they hold too", async () => {
    const { dispatcher, feedback, registry } = setup(1);
    const gates: (() => void)[] = [];
    registry.register({ name: "slow", summary: "waits", run: () => new Promise((resolve) => gates.push(() => resolve(ok("done")))) });
    const data = JSON.stringify({ pad: "x".repeat(MAX_WAITING_TEXT / 3) });
    for (let i = 0; i < 5; i++) dispatcher.accept(command(`t${i}`, "slow", { data }));
    expect([...feedback.fins.keys()]).toEqual(["t3", "t4"]); // t0 runs, t1 and t2 wait
    expect(feedback.fins.get("t3")).toMatchObject({ success: false, result: TOO_MUCH_WAITING });
    await turnsUntil(
      () => feedback.fins.size === 5,
      "five fins",
      () => gates.shift()?.(),
    );
    expect(["t0", "t1", "t2"].map((id) => feedback.fins.get(id)?.result)).toEqual(["done", "done", "done"]);
  });

  test("a command that cannot be recorded (a full disk) is answered directly, not run, with one error line", async () => {
    const records: LogRecord[] = [];
    const hub = new LogHub({ write: () => {}, close: () => {} }, "debug", () => 0);
    hub.listen((r) => records.push(r));
    const { dispatcher, feedback, registry } = setup(4, 4096, hub.logger());
    let runs = 0;
    registry.register({ name: "count", summary: "counts", run: () => ok(String(++runs)) });
    feedback.failing = { ack: diskFull() };
    for (const id of ["f1", "f2", "f3"]) dispatcher.accept(command(id, "count"));
    dispatcher.reject("f4", "invalid command: whatever");
    await dispatcher.idle(1000);
    expect(runs).toBe(0);
    expect(feedback.events).toEqual(["direct f1", "direct f2", "direct f3", "direct f4"]);
    const message = "alpamon: cannot record this command: the state disk is full (SQLITE_FULL); it was not run";
    expect(cannotRecord(diskFull())).toBe(message);
    for (const id of ["f1", "f2", "f3", "f4"])
      expect(feedback.directs.get(id)).toEqual({ success: false, result: message, elapsed_time: 0, exit_code: 1 });
    expect(records.filter((r) => r.level === "error").map((r) => r.message)).toEqual([
      "cannot record commands in the state database; answering them directly",
    ]);
    feedback.failing = {};
    dispatcher.accept(command("ok1", "count"));
    await dispatcher.idle(1000);
    expect(feedback.fins.get("ok1")).toMatchObject({ success: true, result: "1" });
    expect(records.some((r) => r.message === "commands are recorded in the state database again")).toBe(true);
  });

  test("a fin that cannot be recorded goes directly, with the command's real result", async () => {
    const { dispatcher, feedback, registry } = setup();
    registry.register({ name: "work", summary: "works", run: () => ok("worked") });
    feedback.failing = { fin: diskFull() };
    dispatcher.accept(command("w1", "work"));
    await dispatcher.idle(1000);
    expect(feedback.events).toEqual(["ack w1", "direct w1"]);
    expect(feedback.directs.get("w1")).toMatchObject({ success: true, result: "worked" });
  });

  test("results are capped with a marker", async () => {
    const { dispatcher, feedback, registry } = setup(4, 64);
    registry.register({ name: "big", summary: "much output", run: () => ok("é".repeat(100)) });
    dispatcher.accept(command("big1", "big"));
    await dispatcher.idle(1000);
    const result = feedback.fins.get("big1")!.result;
    expect(result).toMatch(/\[alpamon: output truncated, \d+ of 200 bytes omitted\]$/);
    expect(Buffer.byteLength(result.split("\n[alpamon")[0]!)).toBeLessThanOrEqual(64);
  });

  test("reject() acks and fins a frame that failed validation", () => {
    const { dispatcher, feedback } = setup();
    dispatcher.reject("r1", "invalid command: command.env values must be strings");
    expect(feedback.events).toEqual(["ack r1", "fin r1 after 1"]);
    expect(feedback.fins.get("r1")).toMatchObject({ success: false, result: "invalid command: command.env values must be strings" });
  });

  test("reject() de-duplicates: an id seen within the window is not acked or fined again", async () => {
    const { dispatcher, feedback, clock } = setup();
    dispatcher.reject("r1", "invalid command: bad data");
    dispatcher.reject("r1", "invalid command: bad data"); // the console resent the same bad frame
    expect(feedback.events).toEqual(["ack r1", "fin r1 after 1"]);
    // An id first accepted and then seen again in a frame that fails validation is not answered twice either.
    dispatcher.accept(command("r2", "ping"));
    await dispatcher.idle(1000);
    dispatcher.reject("r2", "invalid command: bad data");
    expect(feedback.events).toEqual(["ack r1", "fin r1 after 1", "ack r2", "fin r2 after 2"]);
    expect(feedback.fins.get("r2")!.success).toBe(true);
    // After the window the id is new again.
    await clock.advance(60 * 60 * 1000 + 1);
    dispatcher.reject("r1", "invalid command: bad data");
    expect(feedback.events.filter((e) => e === "ack r1")).toHaveLength(2);
  });
});

describe("agent commands", () => {
  test("help lists exactly the registered commands", async () => {
    const { dispatcher, feedback, registry } = setup();
    dispatcher.accept(command("h1", "help"));
    await dispatcher.idle(1000);
    const listed = [...feedback.fins.get("h1")!.result.matchAll(/^\t\t([\w-]+):/gm)].map((m) => m[1]).sort();
    expect(listed).toEqual(registry.list().map((h) => h.name));
    expect(listed).toEqual(expect.arrayContaining(["help", "ping", "quit", "reconnect", "restart"]));
  });

  test("quit and restart reply first and act a second later", async () => {
    const quit = setup();
    quit.dispatcher.accept(command("q1", "quit"));
    await quit.dispatcher.idle(1000);
    expect(quit.feedback.fins.get("q1")!.result).toBe("Alpamon will shutdown in 1 second.");
    expect(quit.lifecycle.stopReason).toBeUndefined();
    await quit.clock.advance(1000);
    expect(quit.lifecycle.stopReason).toEqual({ kind: "quit" });

    const restart = setup();
    restart.dispatcher.accept(command("r1", "restart"));
    await restart.dispatcher.idle(1000);
    expect(restart.feedback.fins.get("r1")!.result).toBe("Alpamon will restart in 1 second.");
    await restart.clock.advance(1000);
    expect(restart.lifecycle.stopReason).toEqual({ kind: "restart" });
  });

  test("reconnect asks the backhaul to reconnect; restart collector without a collector fails clearly", async () => {
    const { dispatcher, feedback, clock, reconnects } = setup();
    dispatcher.accept(command("x1", "reconnect"));
    dispatcher.accept(command("x2", "restart collector"));
    await dispatcher.idle(1000);
    await clock.advance(1000);
    expect(reconnects).toEqual(["reconnect command"]);
    expect(feedback.fins.get("x2")).toMatchObject({ success: false, result: "The metrics collector is not running." });
  });
});

describe("internal line splitting", () => {
  test("white space separates words; double-quoted words keep spaces and escapes", () => {
    expect(splitInternalLine("  restart   collector ")).toEqual(["restart", "collector"]);
    expect(splitInternalLine('download "/srv/a b.txt"')).toEqual(["download", "/srv/a b.txt"]);
    expect(splitInternalLine('upload "x\\"y"')).toEqual(["upload", 'x"y']);
    expect(splitInternalLine('bad "unterminated')).toEqual(["bad", '"unterminated']);
    expect(splitInternalLine("")).toEqual([]);
  });
});

describe("capResult", () => {
  const escaped = (text: string) => Buffer.byteLength(JSON.stringify(text)) - 2;

  test("keeps short results and never cuts a character in half", () => {
    expect(capResult("short", 10)).toBe("short");
    const capped = capResult("😀".repeat(100), 100);
    expect(capped).toMatch(/^(😀)+\n\[alpamon: output truncated, \d+ of 400 bytes omitted\]$/);
    expect(escaped(capped)).toBeLessThanOrEqual(100);
  });

  test("caps the JSON-escaped size, marker included: a NUL byte counts six", () => {
    const nuls = "\0".repeat(100_000);
    expect(Buffer.byteLength(nuls)).toBeLessThan(200_000); // within the cap as UTF-8, not once escaped
    const capped = capResult(nuls, 200_000);
    expect(escaped(capped)).toBeLessThanOrEqual(200_000);
    expect(escaped(capped)).toBeGreaterThan(200_000 - 100);
    const kept = capped.indexOf("\n[alpamon");
    expect(capped.slice(kept)).toBe(`\n[alpamon: output truncated, ${100_000 - kept} of 100000 bytes omitted]`);
    expect(capResult('"\\', 4)).toBe('"\\'); // exactly four once escaped
  });

  test("a budget smaller than the marker leaves only the marker", () => {
    expect(capResult("x".repeat(100), 10)).toBe("\n[alpamon: output truncated, 100 of 100 bytes omitted]");
  });
});
