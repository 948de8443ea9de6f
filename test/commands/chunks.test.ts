// The chunk series of streamed output against a real outbox (SQLite file, senders not started, so it stays as
// full as the test makes it): a chunk waits while the outbox is at 80 % of its rows, and that wait ends at once
// when the command's signal (the agent stopping) aborts, so shutdown is not held back for the wait.
import { describe, expect, test } from "bun:test";
import { outboxChunks } from "../../src/commands/chunks.ts";
import { PRIORITY_LOGS } from "../../src/console/outbox/item.ts";
import { LogHub, type LogRecord } from "../../src/log/logger.ts";
import { ManualClock } from "../../src/platform/clock.ts";
import { useOutboxHarness } from "../console/outbox/harness.ts";

const { harness } = useOutboxHarness();

/** An outbox of 10 rows holding 8 log rows (at the 80 % mark, so every chunk has to wait) and a chunk series. */
function nearlyFullOutbox(clock: ManualClock, id: string, signal: AbortSignal) {
  const h = harness(() => 200, { maxRows: 10 }, clock);
  for (let i = 0; i < 8; i++) h.outbox.enqueue({ method: "POST", path: "/api/logs/", body: { i }, priority: PRIORITY_LOGS });
  const warnings: LogRecord[] = [];
  const hub = new LogHub({ write: () => {}, close: () => {} }, "debug", () => clock.now());
  hub.listen((r) => {
    if (r.level === "warn") warnings.push(r);
  });
  const sink = outboxChunks({ outbox: h.outbox, log: hub.logger("chunks"), clock })(id, 0, signal);
  if (!sink) throw new Error("no chunk series");
  return { ...h, sink, chunkWarnings: warnings };
}

/** Resolves to true when `p` settles within `ms` of real time, false otherwise. */
async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), ms)));
  try {
    return await Promise.race([p.then(() => true), late]);
  } finally {
    clearTimeout(timer);
  }
}

describe("outboxChunks", () => {
  test("a chunk waiting for room is dropped as soon as the command's signal aborts", async () => {
    const clock = new ManualClock();
    const stop = new AbortController();
    // The manual clock never moves here: without the signal the wait would last forever.
    const { sink, ...h } = nearlyFullOutbox(clock, "c1", stop.signal);
    const waiting = sink.send("hello");
    expect(waiting).toBeInstanceOf(Promise);
    expect(await settlesWithin(waiting!, 50)).toBe(false); // it really waits
    stop.abort();
    expect(await settlesWithin(waiting!, 5_000)).toBe(true);
    expect(h.rowCount()).toBe(8); // dropped, not queued
    expect(h.chunkWarnings.some((r) => r.message.includes("dropping this command's streamed output"))).toBe(true);
    // The next chunk does not wait either while the outbox stays that full.
    expect(sink.send("world")).toBeUndefined();
    expect(h.rowCount()).toBe(8);
  });

  test("a chunk queued after the signal aborted does not wait at all", async () => {
    const clock = new ManualClock();
    const stop = new AbortController();
    stop.abort();
    const { sink, ...h } = nearlyFullOutbox(clock, "c2", stop.signal);
    const waiting = sink.send("hello");
    expect(await settlesWithin(waiting ?? Promise.resolve(), 5_000)).toBe(true);
    expect(h.rowCount()).toBe(8);
  });
});
