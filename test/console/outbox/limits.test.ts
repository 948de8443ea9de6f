// The durable outbox, its limits: row and byte caps, drain with a deadline, four senders under load, stop,
// a sender that must never crash. Real SQLite in a temp dir, a fake sender, a ManualClock; never shares a
// database between tests (outbox-harness.ts).
import { describe, expect, test } from "bun:test";
import { PRIORITY_COMMANDS, PRIORITY_INVENTORY, PRIORITY_LOGS } from "../../../src/console/outbox/outbox.ts";
import { PRIORITY_FINS } from "../../../src/platform/priorities.ts";
import { post, quiet, until, useOutboxHarness } from "./harness.ts";

const { harness } = useOutboxHarness();

describe("caps", () => {
  test("past maxRows the lowest-priority oldest row goes first; one warning per episode, with the count", async () => {
    const h = harness(() => 200, { maxRows: 5 });
    for (const [p, prio] of [
      ["/c1/", 10],
      ["/i1/", 80],
      ["/l1/", 90],
      ["/l2/", 90],
      ["/i2/", 80],
    ] as const)
      h.outbox.enqueue(post(p, prio));
    expect(h.outbox.stats()).toMatchObject({ rows: 5, dropped: 0 });
    h.outbox.enqueue(post("/c2/", PRIORITY_COMMANDS)); // drops l1
    h.outbox.enqueue(post("/l3/", PRIORITY_LOGS)); // drops l2, the oldest 90
    h.outbox.enqueue(post("/c3/", PRIORITY_COMMANDS)); // drops l3, the last 90
    h.outbox.enqueue(post("/c4/", PRIORITY_COMMANDS)); // drops i1, the oldest 80
    expect(h.paths()).toEqual(["/c1/", "/i2/", "/c2/", "/c3/", "/c4/"]);
    expect(h.settled.map((s) => [s.path, s.outcome])).toEqual(["/l1/", "/l2/", "/l3/", "/i1/"].map((p) => [p, "dropped"]));
    expect(h.outbox.stats()).toMatchObject({ rows: 5, dropped: 4 });
    expect(h.warnings()).toEqual([]); // the episode is still going on
    h.outbox.start();
    await until(() => h.outbox.stats().rows === 0, "delivery");
    expect(h.warnings().map((w) => w.fields)).toEqual([{ dropped: 4, max_rows: 5, max_bytes: 64 * 1024 * 1024 }]);
    expect(h.calls.map((c) => c.path)).toEqual(["/c1/", "/c2/", "/c3/", "/c4/", "/i2/"]);
  });

  test("maxBytes is a cap too, and a single item larger than it is refused without touching the others", async () => {
    const body = { pad: "x".repeat(90) }; // 100 bytes of JSON + a 4-byte path
    const h = harness(() => 200, { maxBytes: 350 });
    for (const p of ["/a1/", "/a2/", "/a3/"]) h.outbox.enqueue(post(p, PRIORITY_INVENTORY, body));
    expect(h.outbox.stats()).toEqual({ rows: 3, bytes: 312, dropped: 0 });
    h.outbox.enqueue(post("/b1/", PRIORITY_INVENTORY, body));
    expect(h.paths()).toEqual(["/a2/", "/a3/", "/b1/"]);
    expect(h.outbox.enqueue(post("/huge/", PRIORITY_LOGS, { pad: "y".repeat(400) }))).toBe(0);
    expect(h.paths()).toEqual(["/a2/", "/a3/", "/b1/"]);
    expect(h.outbox.stats()).toEqual({ rows: 3, bytes: 312, dropped: 2 });
    expect(h.warnings().map((w) => w.fields.path)).toEqual(["/huge/"]);
  });

  test("an ack or fin is never refused nor dropped for the caps: lower-priority rows make room, then the caps give", async () => {
    const body = { pad: "x".repeat(90) };
    const h = harness(() => 200, { maxBytes: 350, maxRows: 4 });
    for (const p of ["/l1/", "/i1/"]) h.outbox.enqueue(post(p, PRIORITY_LOGS, body));
    h.outbox.enqueue(post("/c1/", PRIORITY_COMMANDS, body));
    expect(h.outbox.enqueue(post("/huge-fin/", PRIORITY_FINS, { pad: "y".repeat(400) }))).toBeGreaterThan(0);
    expect(h.paths()).toEqual(["/c1/", "/huge-fin/"]); // both logs made room; the fin stays over the cap
    for (const p of ["/c2/", "/c3/"]) h.outbox.enqueue(post(p, PRIORITY_COMMANDS));
    h.outbox.enqueue(post("/c4/", PRIORITY_FINS));
    expect(h.outbox.enqueue(post("/l2/", PRIORITY_LOGS))).toBeGreaterThan(0); // inserted, then dropped for the caps
    expect(h.paths()).toEqual(["/c1/", "/huge-fin/", "/c2/", "/c3/", "/c4/"]);
    expect(h.settled.map((s) => [s.path, s.outcome])).toEqual(["/l1/", "/i1/", "/l2/"].map((p) => [p, "dropped"]));
    const over = h.warnings().filter((w) => /only acks, fins/.test(w.message));
    expect(over).toHaveLength(1); // once per episode, not per insert
    h.outbox.start();
    await until(() => h.outbox.stats().rows === 0, "delivery");
    // Fins (PRIORITY_FINS) go one step behind acks and events.
    expect(h.calls.map((c) => c.path)).toEqual(["/c1/", "/c2/", "/c3/", "/huge-fin/", "/c4/"]);
  });

  test("a fin whose 2024 form merges fields into its body is stored once and sent whole in either form", async () => {
    const h = harness((c) => (c.method === "POST" ? 404 : 200));
    const result = "\0".repeat(1000);
    const item = post("/fin/", PRIORITY_COMMANDS, { success: true, result, elapsed_time: 1 });
    h.outbox.enqueue({ ...item, fallback: { dialect: "commands", method: "PATCH", path: "/cmd/", merge: { handled_at: "t" } } });
    expect(h.outbox.stats().bytes).toBeLessThan(6000 + 200); // one escaped copy of the result, not two
    h.outbox.start();
    await until(() => h.outbox.stats().rows === 0, "delivery");
    expect(h.calls.map((c) => [c.method, c.body])).toEqual([
      ["POST", { success: true, result, elapsed_time: 1 }],
      ["PATCH", { success: true, result, elapsed_time: 1, handled_at: "t" }],
    ]);
  });

  test("a row in flight is never the one dropped", async () => {
    let release = () => {};
    const h = harness(
      (_c, signal) =>
        new Promise<number>((resolve) => {
          release = () => resolve(200);
          signal?.addEventListener("abort", () => resolve(0));
        }),
      { maxRows: 2, senders: 1 },
    );
    h.outbox.enqueue(post("/l1/", PRIORITY_LOGS));
    h.outbox.start();
    await until(() => h.calls.length === 1, "l1 in flight");
    h.outbox.enqueue(post("/l2/", PRIORITY_LOGS));
    h.outbox.enqueue(post("/c1/", PRIORITY_COMMANDS)); // over the cap: l1 is in flight, so l2 goes
    expect(h.paths()).toEqual(["/l1/", "/c1/"]);
    release();
    await until(() => h.settled.filter((s) => s.outcome === "delivered").length === 1, "l1 delivered");
    expect(h.settled.map((s) => [s.path, s.outcome])).toEqual([
      ["/l2/", "dropped"],
      ["/l1/", "delivered"],
    ]);
  });
});

describe("drain", () => {
  test("delivers everything pending now, ignoring backoff waits and the hold", async () => {
    let down = true;
    const h = harness(() => (down ? 503 : 200), { random: () => 0.999 });
    for (const p of ["/a/", "/b/", "/c/"]) h.outbox.enqueue(post(p, PRIORITY_INVENTORY));
    h.outbox.start();
    await until(() => h.calls.length === 3, "the first round");
    for (let i = 0; i < 12; i++) {
      await quiet();
      await h.clock.advance(1_000);
    }
    await quiet();
    const held = h.calls.length;
    expect(held).toBeLessThan(3 + 6); // one probe per growing hold, not every row on its own clock
    expect(h.outbox.stats().rows).toBe(3);
    down = false;
    const before = h.clock.now();
    expect(await h.outbox.drain(1000)).toBe(true);
    expect(h.clock.now()).toBe(before); // no time had to pass
    expect(h.outbox.stats().rows).toBe(0);
    expect(h.calls.length).toBe(held + 3);
  });

  test("returns false at the deadline while the console keeps failing, after trying more than once", async () => {
    const h = harness(() => 503);
    h.outbox.enqueue(post("/x/", PRIORITY_COMMANDS));
    let result: boolean | undefined;
    void h.outbox.drain(5000).then((r) => (result = r));
    for (let i = 0; i < 12 && result === undefined; i++) {
      await quiet();
      await h.clock.advance(500);
    }
    await until(() => result !== undefined, "drain to give up");
    expect(result).toBe(false);
    expect(h.calls.length).toBeGreaterThanOrEqual(5); // retried within the base delay, not after minutes
    expect(h.paths()).toEqual(["/x/"]);
    const calls = h.calls.length;
    await h.clock.advance(60_000); // drain started the senders, so it stopped them too
    await quiet();
    expect(h.calls.length).toBe(calls);
  });
});

describe("senders", () => {
  test("500 rows with 4 senders: each delivered exactly once, at most 4 at a time", async () => {
    let n = 0;
    const h = harness(
      async () => {
        for (let i = n++ % 5; i > 0; i--) await new Promise((resolve) => setImmediate(resolve));
        return n % 7 === 0 ? 503 : 200; // some transient failures on the way
      },
      { random: () => 0 },
    );
    const prios = [PRIORITY_COMMANDS, PRIORITY_INVENTORY, PRIORITY_LOGS];
    for (let i = 0; i < 500; i++) h.outbox.enqueue(post(`/r/${i}/`, prios[i % 3]!, { i }));
    h.outbox.start();
    for (let i = 0; i < 200 && h.outbox.stats().rows > 0; i++) {
      await until(() => h.outbox.stats().rows === 0 || h.peak.inflight > 0, "progress");
      await quiet();
      await h.clock.advance(1); // failed rows wait at least 1 ms
    }
    const delivered = h.settled.filter((s) => s.outcome === "delivered").map((s) => s.path);
    expect(delivered.length).toBe(500);
    expect(new Set(delivered).size).toBe(500);
    expect(h.peak.inflight).toBe(4);
    expect(h.paths()).toEqual([]);
  });

  test("stop aborts in-flight requests; the row stays as it was and goes out after the next start", async () => {
    let answer = false;
    const h = harness(
      (_c, signal) =>
        new Promise<number>((resolve) => {
          if (answer) return resolve(200);
          signal?.addEventListener("abort", () => resolve(0));
        }),
    );
    h.outbox.enqueue(post("/slow/", PRIORITY_COMMANDS));
    h.outbox.start();
    await until(() => h.calls.length === 1, "in flight");
    await h.outbox.stop();
    expect(h.state.sqlite.query("SELECT path, attempts FROM outbox").all()).toEqual([{ path: "/slow/", attempts: 0 }]);
    answer = true;
    h.outbox.start();
    await until(() => h.settled.length === 1, "delivered after restart");
    expect(h.calls.length).toBe(2);
  });

  test("never crashes: a throwing sender is a network error, a throwing listener is logged", async () => {
    let throws = 2;
    const h = harness(
      () => {
        if (throws-- > 0) throw new Error("socket hang up");
        return 200;
      },
      {
        onSettled: () => {
          throw new Error("listener broke");
        },
      },
    );
    h.outbox.enqueue(post("/a/", PRIORITY_COMMANDS));
    h.outbox.start();
    await until(() => h.calls.length === 1, "first attempt");
    await quiet();
    await h.clock.advance(500);
    await until(() => h.calls.length === 2, "second attempt");
    await quiet();
    await h.clock.advance(1000);
    await until(() => h.outbox.stats().rows === 0, "delivery");
    expect(h.warnings().map((w) => w.message)).toEqual(["outbox onSettled listener failed"]);
    expect(h.records.filter((r) => r.level === "debug" && r.fields.error === "socket hang up").length).toBe(2);
  });

  test("a database error while settling a row is logged, and the row is tried again later", async () => {
    const h = harness((c) => (c.path === "/a/" && h.calls.length === 1 ? 503 : 200));
    h.state.sqlite.run("CREATE TRIGGER outbox_fail BEFORE UPDATE ON outbox BEGIN SELECT RAISE(ABORT, 'disk on fire'); END");
    h.outbox.enqueue(post("/a/", PRIORITY_COMMANDS));
    h.outbox.start();
    await until(() => h.records.some((r) => r.level === "error"), "the error");
    expect(h.records.find((r) => r.level === "error")?.fields.error).toContain("disk on fire");
    h.state.sqlite.run("DROP TRIGGER outbox_fail");
    await h.clock.advance(1000);
    await until(() => h.outbox.stats().rows === 0, "delivery after the error");
    expect(h.calls.map((c) => c.path)).toEqual(["/a/", "/a/"]);
  });

  test("a delivered row the database cannot delete (a full disk) is not sent again, and is deleted later", async () => {
    const h = harness(() => 200);
    h.state.sqlite.run("CREATE TRIGGER outbox_full BEFORE DELETE ON outbox BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END");
    for (const p of ["/a/", "/b/"]) h.outbox.enqueue(post(p, PRIORITY_COMMANDS));
    h.outbox.start();
    await until(() => h.settled.length === 2, "both delivered");
    for (let i = 0; i < 5; i++) {
      await quiet();
      await h.clock.advance(60_000);
    }
    expect(h.calls.map((c) => c.path)).toEqual(["/a/", "/b/"]); // not again and again
    expect(h.records.filter((r) => r.level === "error")).toHaveLength(1); // one line, not one per row or retry
    expect(h.state.sqlite.query("SELECT count(*) AS n FROM outbox").get()).toEqual({ n: 2 });
    h.state.sqlite.run("DROP TRIGGER outbox_full");
    h.outbox.enqueue(post("/c/", PRIORITY_COMMANDS)); // the next write that succeeds catches up
    expect(h.state.sqlite.query("SELECT path FROM outbox").all()).toEqual([{ path: "/c/" }]);
  });

  test("a retry never spins: even a zero jitter waits for the clock", async () => {
    const h = harness(
      async () => {
        // Past a few calls, yield to the event loop so a spinning sender fails this test instead of hanging it.
        if (h.calls.length > 3) await new Promise((resolve) => setImmediate(resolve));
        return 503;
      },
      { random: () => 0 },
    );
    h.outbox.enqueue(post("/spin/", PRIORITY_COMMANDS));
    h.outbox.start();
    await quiet();
    expect(h.calls.length).toBe(1);
    await h.clock.advance(1);
    await until(() => h.calls.length === 2, "the retry");
  });
});

describe("recovery", () => {
  test("when a row that had failed gets through, every row in backoff is sent at once", async () => {
    let down = true;
    const h = harness(() => (down ? 503 : 200), { senders: 1, random: () => 0.999 });
    h.outbox.enqueue(post("/old/", PRIORITY_INVENTORY));
    h.outbox.start();
    // Push /old/ deep into backoff: its waits grow to the 60 s cap.
    for (let i = 0; i < 8; i++) {
      await h.clock.advance(60_000);
      await quiet();
    }
    const oldAttempts = h.calls.length;
    h.outbox.enqueue(post("/new/", PRIORITY_COMMANDS));
    await quiet();
    expect(h.calls.length).toBe(oldAttempts); // a row queued during the hold waits for the next probe
    down = false;
    for (let i = 0; i < 60 && h.settled.length < 2; i++) {
      await h.clock.advance(1_000);
      await quiet();
    }
    expect(h.settled.map((s) => s.path)).toEqual(["/new/", "/old/"]);
    expect(h.calls.slice(-2).map((c) => c.path)).toEqual(["/new/", "/old/"]);
    // /old/ went the moment the probe got through, not at the end of its own (almost a minute) backoff.
    expect(h.calls.at(-1)!.at).toBe(h.calls.at(-2)!.at);
  });
});
