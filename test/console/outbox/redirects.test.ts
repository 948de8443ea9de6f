// A redirect is not a delivery: ConsoleHttp does not follow redirects (the key must not travel to another
// origin), so a console behind a redirecting proxy answers every ack, fin and sample with a 3xx. The outbox must
// keep such a row and retry it, or it silently loses everything the agent sends. The real Outbox, the real
// ConsoleHttp and the fake console over loopback; the outbox's backoff runs on a ManualClock.
//
// 1xx: Bun.serve cannot answer a final 1xx other than 101 (`new Response` refuses 100 and 102-199), an interim
// 1xx is skipped by fetch, and an unrequested 101 makes fetch fail, so ConsoleHttp reports status 0. The wire
// test covers that 101; outcomeOf itself is checked directly for the whole 1xx and 3xx ranges.
import { describe, expect, test } from "bun:test";
import { ConsoleHttp } from "../../../src/console/http.ts";
import { outcomeOf, PRIORITY_COMMANDS } from "../../../src/console/outbox/outbox.ts";
import { silentLogger } from "../../../src/log/logger.ts";
import { FakeConsole } from "../fake-console.ts";
import { post, useOutboxHarness } from "./harness.ts";

const { harness, cleanup } = useOutboxHarness();

/** Polls `condition` in real time (the HTTP round trips are real), failing after `ms` instead of hanging. */
async function eventually(condition: () => boolean, what: string, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await Bun.sleep(2);
  }
}

async function rig(firstAnswer: number) {
  const fake = await FakeConsole.start();
  cleanup(() => fake.stop());
  const path = "/api/events/commands/c-redirect/ack/";
  let answer = firstAnswer;
  fake.route("POST", path, () =>
    answer < 200 || answer >= 300 ? { status: answer, headers: { Location: `${fake.url}/moved${path}` } } : { status: answer, body: {} },
  );
  const sender = new ConsoleHttp({
    serverUrl: fake.url,
    id: fake.id,
    key: fake.key,
    tls: { rejectUnauthorized: true },
    userAgent: "alpamon/test",
    log: silentLogger,
  });
  const h = harness(undefined, { sender, senders: 1 });
  const attempts = () => (h.state.sqlite.query("SELECT attempts FROM outbox").get() as { attempts: number } | null)?.attempts ?? 0;
  const tries = () => fake.requests.filter((r) => r.path === path && r.status !== undefined).length;
  return { fake, h, path, attempts, tries, answer: (status: number) => (answer = status) };
}

describe("a 1xx or 3xx answer is not a delivery", () => {
  test("outcomeOf: every 1xx and 3xx status is retried, never delivered nor dropped", () => {
    for (let status = 100; status <= 199; status++) expect([status, outcomeOf(status)]).toEqual([status, "retry"]);
    for (let status = 300; status <= 399; status++) expect([status, outcomeOf(status)]).toEqual([status, "retry"]);
    expect([outcomeOf(200), outcomeOf(204), outcomeOf(299)]).toEqual(["delivered", "delivered", "delivered"]);
  });

  for (const status of [301, 302, 307, 308, 101]) {
    test(`${status} from the console: the row stays, is retried, and goes once the console answers 2xx`, async () => {
      const r = await rig(status);
      r.h.outbox.enqueue(post(r.path, PRIORITY_COMMANDS, { acked: true }));
      r.h.outbox.start();
      // The first answer settles the row one way or the other: retried (attempts 1) or, wrongly, delivered.
      await eventually(() => r.attempts() === 1 || r.h.settled.length > 0, "the first answer to settle the row");
      expect(r.h.settled).toEqual([]);
      expect(r.h.rowCount()).toBe(1);
      expect(r.fake.requests.filter((q) => q.path.startsWith("/moved/"))).toEqual([]); // not followed
      // What the outbox saw: the 3xx itself; for the 101, fetch's "UnrequestedUpgrade" error as status 0.
      const seen = r.h.records.filter((x) => x.message === "outbox will retry").map((x) => x.fields.status);
      expect(seen).toEqual([status === 101 ? 0 : status]);

      // Retried after its backoff (0.5 of the 1 s base with random 0.5), still refused the same way.
      await r.h.clock.advance(500);
      await eventually(() => r.attempts() === 2 || r.h.settled.length > 0, "the retry");
      expect(r.tries()).toBe(2);
      expect(r.h.settled).toEqual([]);
      expect(r.h.rowCount()).toBe(1);

      // The console answers 2xx again: the row is delivered and gone.
      r.answer(201);
      await r.h.clock.advance(60_000);
      await eventually(() => r.h.settled.length > 0, "the delivery");
      expect(r.h.settled).toEqual([{ id: expect.any(Number), method: "POST", path: r.path, status: 201, outcome: "delivered" }]);
      expect(r.h.rowCount()).toBe(0);
      expect(r.tries()).toBe(3);
    });
  }
});
