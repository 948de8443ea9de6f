// Acks and fins as outbox items (one stored copy of the result, shortened to fit the outbox), and the direct
// answers for commands the outbox could not record.
import { describe, expect, test } from "bun:test";
import { MAX_DIRECT_ANSWERS, outboxFeedback } from "../../src/commands/feedback.ts";
import type { HttpMethod, HttpResult } from "../../src/console/http.ts";
import type { OutboxItem } from "../../src/console/outbox/outbox.ts";
import { PRIORITY_COMMANDS, PRIORITY_FINS } from "../../src/platform/priorities.ts";
import { ManualClock } from "../../src/platform/clock.ts";

const escaped = (text: string) => Buffer.byteLength(JSON.stringify(text)) - 2;

function fakeOutbox(maxBytes = 64 * 1024 * 1024) {
  const items: OutboxItem[] = [];
  return { items, maxBytes, enqueue: (item: OutboxItem) => items.push(item) };
}

type Sent = { method: HttpMethod; path: string; body: unknown };

function fakeSender(answer: (s: Sent) => number | Promise<number>) {
  const sent: Sent[] = [];
  return {
    sent,
    async request(method: HttpMethod, path: string, o: { body?: unknown }): Promise<HttpResult> {
      const s = { method, path, body: o.body };
      sent.push(s);
      return { status: await answer(s), text: "" };
    },
  };
}

async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
}

describe("outbox feedback", () => {
  test("the 2024 fin merges handled_at into the stored body (exit_code included) instead of keeping a second copy", () => {
    const outbox = fakeOutbox();
    const feedback = outboxFeedback(outbox, () => Date.UTC(2026, 0, 2));
    const ack = feedback.ack("c1");
    feedback.fin("c1", ack, { success: true, result: "hi", elapsed_time: 1, exit_code: 0 });
    const fin = outbox.items[1]!;
    expect(fin).toMatchObject({
      path: "/api/events/commands/c1/fin/",
      body: { success: true, result: "hi", elapsed_time: 1, exit_code: 0 },
      after: ack,
    });
    expect(fin.fallback).toEqual({
      dialect: "commands",
      method: "PATCH",
      path: "/api/events/commands/c1/",
      merge: { handled_at: "2026-01-02T00:00:00.000Z" },
    });
  });

  test("the fin goes one priority step behind the ack (upstream: 11 after 10), and both are protected", () => {
    const outbox = fakeOutbox();
    const feedback = outboxFeedback(outbox, () => 0);
    feedback.fin("c3", feedback.ack("c3"), { success: false, result: "", elapsed_time: 0, exit_code: 124 });
    expect(outbox.items.map((i) => i.priority)).toEqual([PRIORITY_COMMANDS, PRIORITY_FINS]);
    expect(PRIORITY_FINS).toBe(PRIORITY_COMMANDS + 1);
  });

  test("a fin larger than the outbox's byte cap is shortened to fit, never dropped", () => {
    const outbox = fakeOutbox(64 * 1024);
    const feedback = outboxFeedback(outbox, () => 0);
    feedback.fin("c2", 1, { success: true, result: "\0".repeat(100_000), elapsed_time: 1, exit_code: 0 });
    const result = (outbox.items[0]!.body as { result: string }).result;
    expect(result).toMatch(/\n\[alpamon: output truncated, \d+ of 100000 bytes omitted\]$/);
    expect(escaped(result)).toBeLessThanOrEqual(64 * 1024 - 1024);
  });
});

describe("direct answers", () => {
  const body = { success: false, result: "alpamon: cannot record this command", elapsed_time: 0, exit_code: 1 };

  test("ack then fin, straight to the console in the 2025 form", async () => {
    const sender = fakeSender(() => 200);
    const feedback = outboxFeedback(fakeOutbox(), () => 0, { sender, clock: new ManualClock() });
    expect(feedback.direct!("d1", body)).toBe(true);
    await settle();
    expect(sender.sent).toEqual([
      { method: "POST", path: "/api/events/commands/d1/ack/", body: undefined },
      { method: "POST", path: "/api/events/commands/d1/fin/", body },
    ]);
  });

  test("the 2024 form on 404, and a refused ack (already acknowledged) still lets the fin go", async () => {
    const sender = fakeSender((s) => (s.method === "POST" ? 404 : "acked_at" in (s.body as object) ? 400 : 200));
    const feedback = outboxFeedback(fakeOutbox(), () => 0, { sender, clock: new ManualClock() });
    feedback.direct!("d2", body);
    await settle();
    expect(sender.sent.map((s) => `${s.method} ${s.path}`)).toEqual([
      "POST /api/events/commands/d2/ack/",
      "PATCH /api/events/commands/d2/",
      "POST /api/events/commands/d2/fin/",
      "PATCH /api/events/commands/d2/",
    ]);
    expect(sender.sent[3]!.body).toEqual({ ...body, handled_at: "1970-01-01T00:00:00.000Z" });
  });

  test("retried a few times while the console does not answer; no fin without an ack", async () => {
    const clock = new ManualClock();
    const sender = fakeSender(() => 503);
    const feedback = outboxFeedback(fakeOutbox(), () => 0, { sender, clock });
    feedback.direct!("d3", body);
    for (let i = 0; i < 10; i++) {
      await settle();
      await clock.advance(10_000);
    }
    expect(sender.sent.map((s) => s.path)).toEqual(Array(5).fill("/api/events/commands/d3/ack/"));
  });

  test("at most MAX_DIRECT_ANSWERS on their way at once", async () => {
    const gates: (() => void)[] = [];
    const sender = fakeSender(() => new Promise<number>((resolve) => gates.push(() => resolve(200))));
    const feedback = outboxFeedback(fakeOutbox(), () => 0, { sender, clock: new ManualClock() });
    const accepted = Array.from({ length: MAX_DIRECT_ANSWERS + 5 }, (_, i) => feedback.direct!(`m${i}`, body));
    expect(accepted.filter(Boolean)).toHaveLength(MAX_DIRECT_ANSWERS);
    while (gates.length > 0) {
      for (const open of gates.splice(0)) open();
      await settle();
    }
    expect(feedback.direct!("later", body)).toBe(true);
  });
});
