// Send-first items (OutboxItem.sendFirst, the realtime metric samples): on a quiet running outbox they go out
// without ever being written; anything but a delivery makes them ordinary rows, written and retried; with rows
// in backoff, a hold, the outbox stopped, or too many already out, they are written first like any other.
// Real SQLite in a temp dir, a fake sender in process and a ManualClock.
import { describe, expect, test } from "bun:test";
import { PRIORITY_INVENTORY } from "../../../src/console/outbox/outbox.ts";
import { quiet, until, useOutboxHarness } from "./harness.ts";

const { harness } = useOutboxHarness();
const sample = (path = "/api/metrics/realtime/cpu/", body: unknown = [{ usage: 1 }]) => ({
  method: "POST" as const,
  path,
  body,
  priority: PRIORITY_INVENTORY,
  sendFirst: true,
});

/** A response the test releases by hand, with the table looked at while the request is out. */
function gate() {
  const waiting: ((status: number) => void)[] = [];
  return {
    respond: () => new Promise<number>((resolve) => waiting.push(resolve)),
    release: (status: number) => waiting.shift()!(status),
    get pending() {
      return waiting.length;
    },
  };
}

describe("outbox send-first items", () => {
  test("on a quiet running outbox: sent at once, never written, settled as delivered with id 0", async () => {
    const g = gate();
    const h = harness(g.respond);
    h.outbox.start();
    expect(h.outbox.enqueue(sample())).toBe(0);
    await until(() => g.pending === 1, "the request on the wire");
    expect(h.rowCount()).toBe(0); // in flight, and still nothing on disk
    g.release(201);
    await until(() => h.settled.length === 1, "the delivery");
    expect(h.settled[0]).toEqual({ id: 0, method: "POST", path: "/api/metrics/realtime/cpu/", status: 201, outcome: "delivered" });
    expect(h.calls.map((c) => c.body)).toEqual([[{ usage: 1 }]]);
    expect(h.rowCount()).toBe(0);
    expect(await h.outbox.drain(1000)).toBe(true);
  });

  test("a first attempt to be retried (500, no answer) writes the row and the senders deliver it; a 400 drops it at once", async () => {
    const tries = new Map<string, number>();
    const first: Record<string, number> = { "/a/": 500, "/b/": 0, "/c/": 400 };
    const g = gate();
    const h = harness((call) => {
      const n = (tries.get(call.path) ?? 0) + 1;
      tries.set(call.path, n);
      if (n === 1) return g.respond();
      return first[call.path] === 400 ? 400 : 201;
    });
    h.outbox.start();
    for (const path of Object.keys(first)) expect(h.outbox.enqueue(sample(path))).toBe(0);
    await until(() => g.pending === 3, "three first attempts");
    expect(h.rowCount()).toBe(0);
    for (const status of Object.values(first)) g.release(status);
    await until(() => h.settled.length === 3, "three settled items");
    await h.clock.advance(60_000);
    await until(() => h.settled.length === 3 && h.rowCount() === 0, "the table empty again");
    const byPath = Object.fromEntries(h.settled.map((s) => [s.path, s]));
    expect(byPath["/a/"]).toMatchObject({ outcome: "delivered", status: 201 });
    expect(byPath["/b/"]).toMatchObject({ outcome: "delivered", status: 201 });
    expect(byPath["/a/"]!.id).toBeGreaterThan(0); // written rows when they settled
    expect(byPath["/b/"]!.id).toBeGreaterThan(0);
    expect(byPath["/c/"]).toEqual({ id: 0, method: "POST", path: "/c/", status: 400, outcome: "dropped" }); // never written
    expect(h.warnings().map((w) => [w.message, w.fields?.path])).toEqual([
      ["console refused a request; dropped it from the outbox", "/c/"],
    ]);
    expect(h.outbox.stats().dropped).toBe(1);
    expect(Object.fromEntries(tries)).toEqual({ "/a/": 2, "/b/": 2, "/c/": 1 });
  });

  test("written first when the outbox is not running, while a row is in backoff, and past the senders' count", async () => {
    const h = harness((call) => (call.path === "/stuck/" ? 500 : 201), { senders: 2 });
    // Not started: written like any other.
    expect(h.outbox.enqueue(sample("/early/"))).toBeGreaterThan(0);
    expect(h.rowCount()).toBe(1);
    h.outbox.start();
    await until(() => h.rowCount() === 0, "the early row delivered");

    // A row in backoff: the console may be refusing, so the sample is written.
    h.outbox.enqueue({ method: "POST", path: "/stuck/", priority: PRIORITY_INVENTORY });
    await until(() => h.calls.some((c) => c.path === "/stuck/"), "the stuck row tried");
    await quiet();
    expect(h.outbox.enqueue(sample("/behind-backoff/"))).toBeGreaterThan(0);
    await until(() => h.settled.some((s) => s.path === "/behind-backoff/"), "its delivery");
    expect(h.settled.find((s) => s.path === "/behind-backoff/")!.id).toBeGreaterThan(0);
  });

  test("written first while the link is held (the console stopped answering)", async () => {
    let tries = 0;
    const h = harness((call, signal) => {
      if (call.path !== "/down/") return 201;
      // The first try finds no console; the probe after it hangs (in flight, so no row is in backoff).
      if (++tries === 1) return { status: 0, text: "", error: "connection refused" };
      return new Promise<number>((resolve) => signal?.addEventListener("abort", () => resolve(0)));
    });
    h.outbox.start();
    h.outbox.enqueue({ method: "POST", path: "/down/", priority: PRIORITY_INVENTORY });
    await until(() => h.records.some((r) => r.message.startsWith("console not answering")), "the hold");
    await h.clock.advance(120_000);
    await until(() => tries === 2, "the probe out");
    await quiet();
    expect(h.outbox.enqueue(sample("/while-held/"))).toBeGreaterThan(0);
    expect(h.paths()).toContain("/while-held/");
  });

  test("drain() waits for a first send out, and stop() for its row to be written", async () => {
    let release: (() => void) | undefined;
    const h = harness(
      (_call, signal) =>
        new Promise<number>((resolve) => {
          release = () => resolve(201);
          // The answer to an abort arrives a few turns later, as a real fetch's does.
          signal?.addEventListener("abort", () => setImmediate(() => setImmediate(() => resolve(0))));
        }),
    );
    h.outbox.start();
    expect(h.outbox.enqueue(sample("/slow/"))).toBe(0);
    await until(() => release !== undefined, "the request out");
    let drained: boolean | undefined;
    void h.outbox.drain(60_000).then((d) => (drained = d));
    await quiet();
    expect(drained).toBeUndefined(); // still out: not drained
    release!();
    await until(() => drained !== undefined, "drain to end");
    expect(drained).toBe(true);

    release = undefined;
    expect(h.outbox.enqueue(sample("/cut-slow/"))).toBe(0);
    await until(() => release !== undefined, "the second request out");
    await h.outbox.stop();
    expect(h.paths()).toEqual(["/cut-slow/"]);
  });

  test("no more first sends out at once than senders; the rest are written", async () => {
    const g = gate();
    const h = harness(g.respond, { senders: 2 });
    h.outbox.start();
    const ids = [1, 2, 3].map((n) => h.outbox.enqueue(sample(`/s${n}/`)));
    expect(ids.slice(0, 2)).toEqual([0, 0]);
    expect(ids[2]).toBeGreaterThan(0);
    expect(h.paths()).toEqual(["/s3/"]);
    await until(() => g.pending === 2, "two first sends out");
    g.release(201);
    g.release(201);
    await until(() => g.pending === 1, "the written row sent");
    g.release(201);
    await until(() => h.settled.length === 3 && h.rowCount() === 0, "all three delivered");
  });

  test("stop() while a first send is out: the item is written and sent by the next start", async () => {
    const h = harness((_call, signal) => new Promise<number>((resolve) => signal?.addEventListener("abort", () => resolve(0))));
    h.outbox.start();
    expect(h.outbox.enqueue(sample("/cut/"))).toBe(0);
    await until(() => h.calls.length === 1, "the request out");
    expect(h.rowCount()).toBe(0);
    await h.outbox.stop();
    expect(h.paths()).toEqual(["/cut/"]); // kept, not lost
    expect(h.settled).toEqual([]);
  });
});
