// The outbox's link-level hold: while the console does not answer, one probe goes per growing hold however
// many rows wait; any answer ends it; the backhaul can end it early; a poisoned row cannot keep it closed.
// Real SQLite, a fake sender in process and a ManualClock, as in outbox.test.ts.
import { describe, expect, test } from "bun:test";
import { silentLogger } from "../../../src/log/logger.ts";
import { isLinkFailure, LinkHold } from "../../../src/console/outbox/hold.ts";
import { PRIORITY_COMMANDS, PRIORITY_INVENTORY, PRIORITY_LOGS } from "../../../src/console/outbox/outbox.ts";
import { post, quiet, until, useOutboxHarness } from "./harness.ts";

const { harness } = useOutboxHarness();
const refused = { status: 0, text: "", error: "connection refused" };

type H = ReturnType<typeof harness>;
/** Moves the clock `ms` forward in `step` slices, letting the senders react after each. */
async function run(h: H, ms: number, step: number, each?: () => void): Promise<void> {
  for (let t = 0; t < ms; t += step) {
    each?.();
    await quiet();
    await h.clock.advance(step);
  }
  await quiet();
}

describe("link hold", () => {
  test("30 minutes without an answer: one probe per hold, not one request per row; nothing lost", async () => {
    let down = true;
    const h = harness(() => (down ? refused : 201), { random: () => 0.5 });
    for (let i = 0; i < 300; i++) h.outbox.enqueue(post(`/backlog/${i}/`, PRIORITY_INVENTORY));
    h.outbox.start();
    let queued = 300;
    // Metrics keep arriving: three rows every 5 s, as with realtime checks.
    await run(h, 30 * 60_000, 5_000, () => {
      for (let i = 0; i < 3; i++) h.outbox.enqueue(post(`/metrics/${queued++}/`, PRIORITY_LOGS));
    });
    // Holds of 0.5, 1, 2 ... 30 s (half the 60 s cap at random 0.5): about 65 probes after the first four.
    // Per-row backoff alone would have made several thousand requests.
    expect(h.calls.length).toBeGreaterThan(40);
    expect(h.calls.length).toBeLessThan(80);
    expect(h.outbox.stats().rows).toBe(queued);
    expect(h.records.filter((r) => r.message.startsWith("console not answering")).length).toBe(1);

    down = false;
    const backAt = h.clock.now();
    await run(h, 60_000, 1_000, () => undefined);
    await until(() => h.outbox.stats().rows === 0, "the backlog to drain");
    expect(h.settled.filter((s) => s.outcome === "delivered").length).toBe(queued);
    expect(h.settled.at(-1)!.path).toStartWith("/metrics/"); // priority order held: inventory rows first
    expect(h.calls.at(-1)!.at - backAt).toBeLessThanOrEqual(30_000); // everything within one hold of the return
    expect(h.records.filter((r) => r.message.startsWith("console answers again")).length).toBe(1);
  });

  for (const status of [429, 502, 503, 504]) {
    test(`${status} holds every row, new ones too, until a probe gets an answer`, async () => {
      let down = true;
      const h = harness(() => (down ? status : 200), { senders: 1, random: () => 0.5 });
      h.outbox.enqueue(post("/first/", PRIORITY_COMMANDS));
      h.outbox.enqueue(post("/second/", PRIORITY_INVENTORY));
      h.outbox.start();
      await until(() => h.calls.length === 1, "the first attempt");
      await quiet();
      h.outbox.enqueue(post("/third/", PRIORITY_COMMANDS));
      await quiet();
      expect(h.calls.map((c) => c.path)).toEqual(["/first/"]); // held: neither the old nor the new row went
      down = false;
      await h.clock.advance(500); // the first hold: 0.5 of the 1 s base
      await until(() => h.settled.length === 3, "all three");
      expect(h.calls.map((c) => c.path)).toEqual(["/first/", "/first/", "/third/", "/second/"]);
    });
  }

  test("any answer ends the hold: a probe refused with 404 is dropped and the others go at once", async () => {
    let down = true;
    const h = harness((c) => (down ? refused : c.path === "/gone/" ? 404 : 200), { senders: 1, random: () => 0.5 });
    h.outbox.enqueue(post("/gone/", PRIORITY_COMMANDS));
    h.outbox.enqueue(post("/ok/", PRIORITY_LOGS));
    h.outbox.start();
    await until(() => h.calls.length === 1, "the first attempt");
    await quiet();
    down = false;
    await h.clock.advance(500);
    await until(() => h.settled.length === 2, "both settled");
    expect(h.settled.map((s) => [s.path, s.outcome])).toEqual([
      ["/gone/", "dropped"],
      ["/ok/", "delivered"],
    ]);
    expect(h.calls.at(-1)!.at).toBe(h.calls.at(-2)!.at); // /ok/ did not wait for a hold or a backoff
  });

  test("linkUp (the backhaul reached the console) ends a hold at once and sends the rows in backoff", async () => {
    let down = true;
    const h = harness(() => (down ? refused : 200), { random: () => 0.999 });
    for (const p of ["/a/", "/b/"]) h.outbox.enqueue(post(p, PRIORITY_INVENTORY));
    h.outbox.start();
    await run(h, 5 * 60_000, 10_000);
    expect(h.outbox.stats().rows).toBe(2);
    const calls = h.calls.length;
    down = false;
    h.outbox.linkUp();
    await until(() => h.outbox.stats().rows === 0, "both delivered");
    expect(h.calls.length).toBe(calls + 2);
    h.outbox.linkUp(); // while open it does nothing
    await quiet();
    expect(h.calls.length).toBe(calls + 2);
  });

  test("a row that never gets an answer cannot keep the hold closed for the others", async () => {
    let down = true;
    const h = harness((c) => (down || c.path === "/poison/" ? refused : 200), { senders: 1, random: () => 0.5 });
    h.outbox.enqueue(post("/poison/", PRIORITY_COMMANDS));
    h.outbox.enqueue(post("/healthy/", PRIORITY_LOGS));
    h.outbox.start();
    await until(() => h.calls.length === 1, "the first attempt");
    down = false; // the console is back, but /poison/ never gets an answer
    await run(h, 10_000, 250);
    expect(h.settled.map((s) => s.path)).toEqual(["/healthy/"]);
    // The second probe skipped the row the first probe failed with.
    expect(h.calls.slice(0, 3).map((c) => c.path)).toEqual(["/poison/", "/poison/", "/healthy/"]);
    // Alone in the queue it looks like an outage, so the holds grow; a new row waits at most one hold.
    await run(h, 10 * 60_000, 5_000);
    const t = h.clock.now();
    h.outbox.enqueue(post("/later/", PRIORITY_LOGS));
    await run(h, 60_000, 1_000);
    expect(h.settled.map((s) => s.path)).toEqual(["/healthy/", "/later/"]);
    expect(h.calls.find((c) => c.path === "/later/")!.at - t).toBeLessThanOrEqual(60_000);
  });

  test("while the backhaul says the console is reachable, a row without answers holds nothing", async () => {
    let connected = true;
    const h = harness((c) => (c.path === "/poison/" ? refused : 200), { senders: 1, random: () => 0.5, reachable: () => connected });
    h.outbox.enqueue(post("/poison/", PRIORITY_COMMANDS));
    h.outbox.start();
    await run(h, 10 * 60_000, 5_000);
    const attempts = h.calls.length;
    expect(attempts).toBeGreaterThan(10); // it kept its own backoff
    expect(attempts).toBeLessThan(30);
    h.outbox.enqueue(post("/now/", PRIORITY_LOGS));
    await until(() => h.settled.length === 1, "the new row");
    expect(h.calls.at(-1)!.at).toBe(h.clock.now()); // at once: nothing was held
    connected = false; // the backhaul dropped: the next link failure holds again
    await run(h, 2 * 60_000, 5_000);
    h.outbox.enqueue(post("/held/", PRIORITY_LOGS));
    await quiet();
    expect(h.calls.at(-1)!.path).toBe("/poison/");
    h.outbox.linkUp(); // the backhaul is back
    await until(() => h.settled.length === 2, "the held row");
    expect(h.settled.at(-1)!.path).toBe("/held/");
  });

  test("drain ignores the hold, and stop leaves the rows on disk", async () => {
    const h = harness(() => refused, { random: () => 0.5 });
    h.outbox.enqueue(post("/x/", PRIORITY_COMMANDS));
    h.outbox.enqueue(post("/y/", PRIORITY_COMMANDS));
    h.outbox.start();
    await until(() => h.calls.length === 2, "the first round");
    await quiet();
    let result: boolean | undefined;
    void h.outbox.drain(2_000).then((r) => (result = r));
    await run(h, 2_500, 250);
    expect(result).toBe(false);
    expect(h.calls.length).toBeGreaterThan(4); // both rows, several times: not one probe per hold
    await h.outbox.stop();
    expect(h.rowCount()).toBe(2);
  });
});

describe("LinkHold", () => {
  test("the statuses that speak for the link", () => {
    expect([0, 200, 400, 401, 404, 408, 429, 500, 502, 503, 504].filter(isLinkFailure)).toEqual([0, 429, 502, 503, 504]);
  });

  test("a failure from an older round lengthens the hold but does not escalate it", () => {
    const hold = new LinkHold(silentLogger, undefined);
    const decide = (now: number) => hold.claim(now, false).decision;
    const wakeAt = (now: number) => hold.timerAt(now, false, () => undefined);
    const fail = (round: number, now: number, holdMs: number) =>
      hold.failed({ round, probe: false, rowId: 1, status: 0, now, holdMs, rows: 1, draining: false });
    expect(decide(0)).toBe("open");
    fail(0, 0, 1_000); // closes it: round 1
    fail(0, 10, 1_500); // in flight before the close: same round
    expect(hold.round).toBe(1);
    expect(decide(1_000)).toBe("closed");
    expect(wakeAt(1_000)).toBe(1_510);
    expect(decide(1_510)).toBe("probe");
    hold.startProbe();
    expect(decide(2_000)).toBe("closed"); // one probe at a time
    expect(wakeAt(2_000)).toBeUndefined(); // its end wakes the senders
    fail(1, 2_000, 2_000);
    hold.endProbe();
    expect(hold.round).toBe(2);
    expect(hold.answered(1)).toBe(true);
    expect(hold.answered(1)).toBe(false);
    expect([hold.round, decide(0)]).toEqual([0, "open"]);
  });
});
