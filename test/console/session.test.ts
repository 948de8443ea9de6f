import { describe, expect, test } from "bun:test";
import type { HttpResult } from "../../src/console/http.ts";
import { SESSION_PATH, waitForSession } from "../../src/console/session.ts";
import { LogHub, type LogRecord } from "../../src/log/logger.ts";
import { ManualClock } from "../../src/platform/clock.ts";

function scripted(answers: HttpResult[]) {
  const paths: string[] = [];
  return {
    paths,
    http: {
      request: async (_method: string, path: string) => {
        paths.push(path);
        return answers.shift() ?? { status: 0, text: "", error: "exhausted" };
      },
    },
  };
}

function logs() {
  const records: LogRecord[] = [];
  const hub = new LogHub({ write: () => {}, close: () => {} }, "debug");
  hub.listen((r) => records.push(r));
  return { records, log: hub.logger() };
}

/** Advances the clock until the promise settles (the session check sleeps between attempts). */
async function run<T>(clock: ManualClock, promise: Promise<T>): Promise<T> {
  let done = false;
  void promise.finally(() => (done = true)).catch(() => {});
  for (let i = 0; i < 100_000 && !done; i++) {
    await Bun.sleep(0);
    if (clock.pending > 0) await clock.advance(1_000);
  }
  return promise;
}

describe("session check", () => {
  test("returns commissioned after failures, retrying the right path", async () => {
    const clock = new ManualClock();
    const { http, paths } = scripted([
      { status: 0, text: "", error: "connection refused" },
      { status: 502, text: "" },
      { status: 200, text: "not json" },
      { status: 200, text: JSON.stringify({ commissioned: "yes" }) },
      { status: 200, text: JSON.stringify({ id: "x", commissioned: true }) },
    ]);
    const { log } = logs();
    const result = await run(clock, waitForSession({ http, log, clock, signal: new AbortController().signal, random: () => 0.5 }));
    expect(result).toBe(true);
    expect(paths).toEqual(Array(5).fill(SESSION_PATH));
  });

  test("a rejected key is an error with a hint, logged once per streak, retried with capped backoff", async () => {
    const clock = new ManualClock();
    const answers: HttpResult[] = Array.from({ length: 12 }, () => ({ status: 403, text: "{}" }));
    answers.push({ status: 200, text: JSON.stringify({ commissioned: false }) });
    const { http } = scripted(answers);
    const { log, records } = logs();
    const started = clock.monotonic();
    const result = await run(
      clock,
      waitForSession({
        http,
        log,
        clock,
        signal: new AbortController().signal,
        random: () => 1,
        configSource: "/etc/alpamon/alpamon.conf",
      }),
    );
    expect(result).toBe(false);
    const errors = records.filter((r) => r.level === "error");
    expect(errors).toHaveLength(1);
    expect(errors[0]!.fields.hint).toBe("check [server] id and key in /etc/alpamon/alpamon.conf");
    // random()=1 gives the largest delays: 5, 10, 20, ... capped at 300 s.
    const waited = clock.monotonic() - started;
    expect(waited).toBeGreaterThan(5 * 300_000);
    expect(waited).toBeLessThanOrEqual(12 * 300_000 + 12_000);
  });

  test("a stop request ends the wait at once", async () => {
    const clock = new ManualClock();
    const { http } = scripted(Array.from({ length: 100 }, () => ({ status: 500, text: "" })));
    const { log } = logs();
    const controller = new AbortController();
    const waiting = waitForSession({ http, log, clock, signal: controller.signal });
    await Bun.sleep(5);
    controller.abort(new Error("stopping: signal"));
    await expect(waiting).rejects.toThrow("stopping: signal");
  });
});
