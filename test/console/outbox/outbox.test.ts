// The durable outbox, delivery rules: priority order, per-row backoff, retry or drop by status, ack before
// fin, the 2024 dialect fallback, rows that survive a restart. Real SQLite in a temp dir, a fake sender in
// process and a ManualClock: no test sleeps for real. Never shares a database between tests.
import { describe, expect, test } from "bun:test";
import { fullJitterDelay } from "../../../src/console/backoff.ts";
import { DEFAULT_RETRY, PRIORITY_COMMANDS, PRIORITY_INVENTORY, PRIORITY_LOGS } from "../../../src/console/outbox/outbox.ts";
import { ManualClock } from "../../../src/platform/clock.ts";
import { post, quiet, until, useOutboxHarness, type Respond } from "./harness.ts";

const { harness } = useOutboxHarness();

describe("outbox delivery", () => {
  test("lowest priority number first, FIFO within a priority (one sender)", async () => {
    const h = harness(() => 200, { senders: 1 });
    for (const [p, prio] of [
      ["/l/1/", 90],
      ["/i/1/", 80],
      ["/c/1/", 10],
      ["/l/2/", 90],
      ["/c/2/", 10],
      ["/i/2/", 80],
    ] as const) {
      h.outbox.enqueue(post(p, prio));
    }
    expect(h.rowCount()).toBe(6); // on disk before any send
    h.outbox.start();
    await until(() => h.settled.length === 6, "six deliveries");
    expect(h.calls.map((c) => c.path)).toEqual(["/c/1/", "/c/2/", "/i/1/", "/i/2/", "/l/1/", "/l/2/"]);
    expect(h.settled.every((s) => s.outcome === "delivered" && s.status === 200)).toBe(true);
    expect(h.rowCount()).toBe(0);
    expect([PRIORITY_COMMANDS, PRIORITY_INVENTORY, PRIORITY_LOGS]).toEqual([10, 80, 90]);
  });

  test("a row waiting for its backoff does not block the rows behind it", async () => {
    // A 500 speaks for that request only; the link-level statuses (0, 429, 502-504) hold every row instead
    // (outbox-gate.test.ts).
    const h = harness((c) => (c.path === "/stuck/" ? 500 : 200), { senders: 1 });
    h.outbox.enqueue(post("/stuck/", PRIORITY_COMMANDS));
    h.outbox.enqueue(post("/a/", PRIORITY_INVENTORY));
    h.outbox.enqueue(post("/b/", PRIORITY_LOGS));
    h.outbox.start();
    await until(() => h.settled.length === 2, "the two healthy rows");
    h.outbox.enqueue(post("/c/", PRIORITY_COMMANDS)); // newer, same priority as the stuck row
    await until(() => h.settled.length === 3, "the new row");
    expect(h.calls.map((c) => c.path)).toEqual(["/stuck/", "/a/", "/b/", "/c/"]);
    expect(h.outbox.stats().rows).toBe(1);
    await h.clock.advance(500); // random 0.5 of the 1 s base
    await until(() => h.calls.length === 5, "the retry");
    expect(h.calls[4]!.path).toBe("/stuck/");
  });

  test("0, 401, 403, 408, 429, 500 and 503 are retried until delivered, without a warning", async () => {
    const failFirst = [0, 401, 403, 408, 429, 500, 503];
    const seen = new Set<string>();
    const h = harness((c) => {
      const first = !seen.has(c.path);
      seen.add(c.path);
      const status = Number(c.path.split("/")[1]);
      return first ? (status === 0 ? { status: 0, text: "", error: "connection refused" } : status) : 201;
    });
    for (const s of failFirst) h.outbox.enqueue(post(`/${s}/`, PRIORITY_INVENTORY, { n: s }));
    h.outbox.start();
    await until(() => h.calls.length === failFirst.length, "first attempts");
    await quiet();
    const attempts = h.state.sqlite.query("SELECT path, attempts FROM outbox ORDER BY id").all();
    expect(attempts).toEqual(failFirst.map((s) => ({ path: `/${s}/`, attempts: 1 })));
    await h.clock.advance(500);
    await until(() => h.settled.length === failFirst.length, "deliveries");
    expect(h.calls.filter((c) => c.path === "/503/").length).toBe(2);
    expect(h.settled.every((s) => s.outcome === "delivered")).toBe(true);
    expect(h.warnings()).toEqual([]);
  });

  test("400, 404, 409 and 422 drop the row with one warning naming the endpoint; bodies are never logged", async () => {
    const refused = [400, 404, 409, 422];
    const h = harness((c) => Number(c.path.split("/")[2]));
    for (const s of refused) h.outbox.enqueue({ method: "PUT", path: `/x/${s}/`, priority: 80, body: { out: "s3cr3t-output" } });
    h.outbox.start();
    await until(() => h.settled.length === refused.length, "drops");
    await h.clock.advance(600_000);
    await quiet();
    expect(h.calls.length).toBe(refused.length); // never retried
    expect(h.settled.map((s) => [s.path, s.status, s.outcome])).toEqual(refused.map((s) => [`/x/${s}/`, s, "dropped"]));
    expect(h.warnings().map((w) => w.fields)).toEqual(refused.map((s) => ({ method: "PUT", path: `/x/${s}/`, status: s })));
    expect(h.outbox.stats()).toEqual({ rows: 0, bytes: 0, dropped: refused.length });
    expect(h.lines.join("\n")).not.toContain("s3cr3t");
  });

  test("backoff: full jitter from the end of the failed attempt, growing, capped", async () => {
    const randoms = [0.999, 0.5, 0.999, 0.25, 0.999, 0.999];
    let i = 0;
    const retry = { baseMs: 1000, capMs: 5000 };
    const h = harness(() => 503, { retry, random: () => randoms[i++] ?? 0.999 });
    const t0 = h.clock.now();
    h.outbox.enqueue(post("/fail/", PRIORITY_COMMANDS));
    h.outbox.start();
    let last = t0;
    for (let attempt = 0; attempt < randoms.length; attempt++) {
      await until(() => h.calls.length === attempt + 1, `attempt ${attempt + 1}`);
      await quiet();
      const delay = fullJitterDelay(attempt, retry.baseMs, retry.capMs, () => randoms[attempt]!);
      expect(delay).toBeLessThan(Math.min(retry.capMs, retry.baseMs * 2 ** attempt));
      const row = h.state.sqlite.query("SELECT attempts, next_attempt_at FROM outbox").get() as {
        attempts: number;
        next_attempt_at: number;
      };
      expect(row).toEqual({ attempts: attempt + 1, next_attempt_at: h.clock.now() + delay });
      last = h.clock.now();
      await h.clock.advance(delay - 1);
      await quiet();
      expect(h.calls.length).toBe(attempt + 1); // not a millisecond early
      await h.clock.advance(1);
      await until(() => h.calls.length === attempt + 2 || attempt === randoms.length - 1, "next attempt");
      if (attempt < randoms.length - 1) expect(h.calls[attempt + 1]!.at - last).toBe(delay);
    }
    // The cap holds: 0.999 of 5 s, not of 2^5 s.
    expect(fullJitterDelay(5, 1000, 5000, () => 0.999)).toBe(4995);
  });

  test("backoff counts from when the attempt ended, not from when it started", async () => {
    const clock = new ManualClock();
    const h = harness(
      async (_c, signal) => {
        await clock.sleep(3000, signal);
        return 503;
      },
      {},
      clock,
    );
    h.outbox.enqueue(post("/slow/", PRIORITY_COMMANDS));
    h.outbox.start();
    await until(() => h.calls.length === 1, "first attempt");
    await h.clock.advance(3000);
    await until(
      () => h.rowCount() === 1 && (h.state.sqlite.query("SELECT attempts FROM outbox").get() as { attempts: number }).attempts === 1,
      "retry scheduled",
    );
    const next = (h.state.sqlite.query("SELECT next_attempt_at FROM outbox").get() as { next_attempt_at: number }).next_attempt_at;
    expect(next).toBe(h.calls[0]!.at + 3000 + 500);
  });
});

describe("ack before fin", () => {
  test("the fin waits for its ack even when it would go first and the ack keeps failing", async () => {
    let ackFailures = 3;
    const h = harness((c) => (c.path.endsWith("/ack/") && ackFailures-- > 0 ? 503 : 200));
    const ack = h.outbox.enqueue(post("/api/events/commands/c1/ack/", PRIORITY_COMMANDS));
    // Priority 1 would put the fin ahead of everything; `after` must still hold it back.
    h.outbox.enqueue({ ...post("/api/events/commands/c1/fin/", 1, { success: true }), after: ack });
    h.outbox.start();
    for (let n = 1; n <= 3; n++) {
      await until(() => h.calls.length === n, `ack attempt ${n}`);
      await quiet();
      expect(h.calls.map((c) => c.path.split("/")[5])).toEqual(Array(n).fill("ack"));
      await h.clock.advance(60_000);
    }
    await until(() => h.settled.length === 2, "ack and fin");
    expect(h.calls.map((c) => c.path.split("/")[5])).toEqual(["ack", "ack", "ack", "ack", "fin"]);
  });

  test("a dropped ack releases its fin", async () => {
    const h = harness((c) => (c.path.endsWith("/ack/") ? 400 : 200));
    const ack = h.outbox.enqueue(post("/api/events/commands/c2/ack/", PRIORITY_COMMANDS));
    h.outbox.enqueue({ ...post("/api/events/commands/c2/fin/", PRIORITY_COMMANDS, {}), after: ack });
    h.outbox.start();
    await until(() => h.settled.length === 2, "both settled");
    expect(h.settled.map((s) => s.outcome)).toEqual(["dropped", "delivered"]);
  });
});

describe("2024 dialect fallback", () => {
  const ackItem = (id: string) => ({
    ...post(`/api/events/commands/${id}/ack/`, PRIORITY_COMMANDS),
    fallback: {
      dialect: "commands",
      method: "PATCH" as const,
      path: `/api/events/commands/${id}/`,
      body: { acked_at: "2026-01-01T00:00:00.000Z" },
    },
  });
  const legacy: Respond = (c) => (c.method === "PATCH" ? 200 : 404);

  test("a 404 switches the dialect, sends the PATCH form at once, and later rows go straight to it", async () => {
    const h = harness(legacy);
    const ack = h.outbox.enqueue(ackItem("a1"));
    h.outbox.start();
    await until(() => h.settled.length === 1, "the ack");
    expect(h.calls.map((c) => [c.method, c.path, c.body])).toEqual([
      ["POST", "/api/events/commands/a1/ack/", undefined],
      ["PATCH", "/api/events/commands/a1/", { acked_at: "2026-01-01T00:00:00.000Z" }],
    ]);
    expect(h.settled[0]).toMatchObject({ id: ack, method: "PATCH", status: 200, outcome: "delivered" });
    expect(h.state.sqlite.query("SELECT key, value FROM kv").all()).toEqual([
      { key: "lacks: commands", value: expect.stringMatching(/^\{"since":\d+\}$/) },
    ]);
    const fin = { success: true, result: "ok", elapsed_time: 0.5 };
    h.outbox.enqueue({
      ...post("/api/events/commands/a1/fin/", PRIORITY_COMMANDS, fin),
      after: ack,
      fallback: { dialect: "commands", method: "PATCH", path: "/api/events/commands/a1/", body: { ...fin, handled_at: "x" } },
    });
    await until(() => h.settled.length === 2, "the fin");
    expect(h.calls.slice(2).map((c) => [c.method, c.body])).toEqual([["PATCH", { ...fin, handled_at: "x" }]]);
    expect(h.warnings()).toEqual([]);
  });

  test("a new outbox on the same database file remembers the dialect", async () => {
    const clock = new ManualClock();
    const first = harness(legacy, {}, clock);
    first.outbox.enqueue(ackItem("b1"));
    first.outbox.start();
    await until(() => first.settled.length === 1, "first ack");
    await first.outbox.stop();
    first.state.close();
    const second = harness(legacy, {}, clock);
    second.outbox.enqueue(ackItem("b2"));
    second.outbox.start();
    await until(() => second.settled.length === 1, "second ack");
    expect(second.calls.map((c) => c.method)).toEqual(["PATCH"]);
  });
  test("fallbackOn: a 400 switches to the fallback when asked to, a 404 then does not", async () => {
    const h = harness((c) => (typeof (c.body as { load?: unknown }).load === "number" ? 400 : 200));
    const item = (n: number) => ({
      method: "PUT" as const,
      path: "/api/servers/servers/-/commit/",
      priority: PRIORITY_INVENTORY,
      body: { load: n },
      fallback: {
        dialect: "commit-load",
        method: "PUT" as const,
        path: "/api/servers/servers/-/commit/",
        body: { load: { period: "1m", average: n } },
      },
      fallbackOn: [400],
    });
    h.outbox.enqueue(item(0.5));
    h.outbox.start();
    await until(() => h.settled.length === 1, "the commit");
    expect(h.calls.map((c) => c.body)).toEqual([{ load: 0.5 }, { load: { period: "1m", average: 0.5 } }]);
    expect(h.settled[0]).toMatchObject({ status: 200, outcome: "delivered" });
    expect(h.state.sqlite.query("SELECT key, value FROM kv").all()).toEqual([
      { key: "lacks: commit-load", value: expect.stringMatching(/^\{"since":\d+\}$/) },
    ]);
    h.outbox.enqueue(item(0.7));
    await until(() => h.settled.length === 2, "the second commit");
    expect(h.calls.slice(2).map((c) => c.body)).toEqual([{ load: { period: "1m", average: 0.7 } }]);
    // Without fallbackOn a 400 is final, and with it a 404 no longer triggers the fallback.
    const g = harness((c) => (c.path === "/a/" ? 400 : 404));
    g.outbox.enqueue({ ...post("/a/", PRIORITY_INVENTORY), fallback: { dialect: "a", method: "POST", path: "/a-old/" } });
    g.outbox.enqueue({
      ...post("/b/", PRIORITY_INVENTORY),
      fallback: { dialect: "b", method: "POST", path: "/b-old/" },
      fallbackOn: [400],
    });
    g.outbox.start();
    await until(() => g.settled.length === 2, "two drops");
    expect(g.calls.map((c) => c.path).sort()).toEqual(["/a/", "/b/"]);
    expect(g.settled.every((s) => s.outcome === "dropped")).toBe(true);
  });
});

describe("restart", () => {
  test("rows survive closing the database; a new outbox delivers them in order, fin after ack", async () => {
    const clock = new ManualClock();
    const first = harness(() => 200, {}, clock);
    first.outbox.enqueue(post("/logs/", PRIORITY_LOGS, { msg: "m" }));
    const ack = first.outbox.enqueue(post("/api/events/commands/r1/ack/", PRIORITY_COMMANDS));
    first.outbox.enqueue({ ...post("/api/events/commands/r1/fin/", 1, { success: true }), after: ack });
    first.outbox.enqueue(post("/inventory/", PRIORITY_INVENTORY, { load: 1 }));
    first.state.close(); // never started, never stopped: as after a SIGKILL

    const second = harness(() => 200, { senders: 1 }, clock);
    expect(second.outbox.stats().rows).toBe(4);
    second.outbox.start();
    await until(() => second.settled.length === 4, "all four");
    expect(second.calls.map((c) => [c.path, c.body])).toEqual([
      ["/api/events/commands/r1/ack/", undefined],
      ["/api/events/commands/r1/fin/", { success: true }],
      ["/inventory/", { load: 1 }],
      ["/logs/", { msg: "m" }],
    ]);
    expect(second.rowCount()).toBe(0);
  });

  test("a row in backoff keeps its due time across a restart", async () => {
    const clock = new ManualClock();
    const first = harness(() => 503, { random: () => 0.75 }, clock);
    first.outbox.enqueue(post("/later/", PRIORITY_COMMANDS));
    first.outbox.start();
    await until(() => first.rowCount() === 1 && first.calls.length === 1, "first attempt");
    await quiet();
    await first.outbox.stop();
    first.state.close();
    await clock.advance(500);
    const second = harness(() => 200, {}, clock);
    second.outbox.start();
    await quiet();
    expect(second.calls).toEqual([]); // 750 ms after the failure, not 500
    await clock.advance(250);
    await until(() => second.settled.length === 1, "delivery after the backoff");
  });

  test("a due time a year ahead (the wall clock stepped back across a restart) is clamped to the 60 s cap", async () => {
    // The first run fails a row while the wall clock reads 2027; the machine comes back reading 2026.
    const before = new ManualClock(Date.UTC(2027, 0, 1));
    const first = harness(() => 503, {}, before);
    first.outbox.enqueue(post("/stepped/", PRIORITY_COMMANDS));
    first.outbox.start();
    await until(() => first.calls.length === 1 && first.rowCount() === 1, "the failed attempt");
    await quiet();
    await first.outbox.stop();
    const stored = first.state.sqlite.query("SELECT attempts, next_attempt_at FROM outbox").get() as {
      attempts: number;
      next_attempt_at: number;
    };
    first.state.close();
    const after = new ManualClock(Date.UTC(2026, 0, 1));
    expect(stored.attempts).toBe(1);
    expect(stored.next_attempt_at - after.now()).toBeGreaterThan(365 * 24 * 3600_000); // a year ahead of the new clock
    expect(DEFAULT_RETRY.capMs).toBe(60_000);

    const second = harness(() => 200, {}, after);
    second.outbox.start();
    await quiet();
    await after.advance(DEFAULT_RETRY.capMs);
    await until(() => second.settled.length === 1, "the row to be attempted within the 60 s cap");
    expect(second.calls.map((c) => c.path)).toEqual(["/stepped/"]);
    expect(second.calls[0]!.at - Date.UTC(2026, 0, 1)).toBeLessThanOrEqual(DEFAULT_RETRY.capMs);
    expect(second.rowCount()).toBe(0);
  });
});
