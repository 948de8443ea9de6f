// The outbox's dialect memory (src/console/outbox/dialects.ts over db/console-memory.ts): learned per console
// URL, logged once at info, trusted for a day, then probed by exactly one row; a console that accepts the newer
// form again is used in it from then on.
import { describe, expect, test } from "bun:test";
import { RECHECK_MS } from "../../../src/db/console-memory.ts";
import { PRIORITY_COMMANDS } from "../../../src/console/outbox/outbox.ts";
import type { HttpMethod, HttpResult } from "../../../src/console/http.ts";
import { eventually } from "../fake-console-waits.ts";
import { useOutboxHarness } from "./harness.ts";

const { harness } = useOutboxHarness();

const ack = (id: string) => ({
  method: "POST" as const,
  path: `/api/events/commands/${id}/ack/`,
  priority: PRIORITY_COMMANDS,
  fallback: { dialect: "commands", method: "PATCH" as const, path: `/api/events/commands/${id}/`, body: { acked_at: "x" } },
});

const until = (check: () => boolean, what: string) => eventually(check, 10_000, what);

describe("dialect memory", () => {
  test("learned once at info, trusted for a day, then one probe row; an upgraded console is used in the newer form", async () => {
    let upgraded = false;
    const h = harness((c) => (c.method === "PATCH" || upgraded ? 200 : 404));
    const infos = () => h.records.filter((r) => r.level === "info").map((r) => r.message);
    h.outbox.start();
    h.outbox.enqueue(ack("a1"));
    await until(() => h.settled.length === 1, "a1");
    h.outbox.enqueue(ack("a2"));
    await until(() => h.settled.length === 2, "a2");
    expect(h.calls.map((c) => c.method)).toEqual(["POST", "PATCH", "PATCH"]);
    expect(infos().filter((m) => m.startsWith("console refused this form"))).toHaveLength(1);

    await h.clock.advance(RECHECK_MS);
    const from = h.calls.length;
    h.outbox.enqueue(ack("a3"));
    h.outbox.enqueue(ack("a4"));
    await until(() => h.settled.length === 4, "a3 and a4");
    // One probe in the newer form, refused again: both go in the older form, and nothing new at info.
    expect(h.calls.slice(from).filter((c) => c.method === "POST")).toHaveLength(1);
    expect(h.calls.slice(from).filter((c) => c.method === "PATCH")).toHaveLength(2);
    expect(infos().filter((m) => m.startsWith("console refused this form"))).toHaveLength(1);
    expect(h.warnings()).toEqual([]);

    upgraded = true;
    await h.clock.advance(RECHECK_MS);
    const later = h.calls.length;
    h.outbox.enqueue(ack("a5"));
    await until(() => h.settled.length === 5, "a5");
    h.outbox.enqueue(ack("a6"));
    await until(() => h.settled.length === 6, "a6");
    expect(h.calls.slice(later).map((c) => c.method)).toEqual(["POST", "POST"]);
    expect(infos()).toContain("the console accepts the newer form again; using it from now on");
    expect(h.state.sqlite.query("SELECT count(*) AS n FROM kv WHERE key LIKE 'lacks:%'").get()).toEqual({ n: 0 });
  });

  test("what one console lacks is not assumed of another", async () => {
    const first = harness((c) => (c.method === "PATCH" ? 200 : 404));
    first.outbox.start();
    first.outbox.enqueue(ack("b1"));
    await until(() => first.settled.length === 1, "b1");
    await first.outbox.stop();
    const calls: string[] = [];
    const other = {
      serverUrl: "https://other.example",
      async request(method: HttpMethod, path: string): Promise<HttpResult> {
        calls.push(`${method} ${path}`);
        return { status: 200, text: "" };
      },
    };
    const second = harness(() => 200, { state: first.state, sender: other }, first.clock);
    second.outbox.start();
    second.outbox.enqueue(ack("b2"));
    await until(() => second.settled.length === 1, "b2");
    expect(calls).toEqual(["POST /api/events/commands/b2/ack/"]);
  });
});
