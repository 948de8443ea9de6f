// Shared fixture for the outbox tests: a real SQLite file in a fresh temp dir per test, a fake sender that
// records every call, a LogHub that records every line, and a ManualClock. Cleans up even when a test fails.
import { afterEach, beforeEach } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { HttpMethod, HttpResult } from "../../../src/console/http.ts";
import { Outbox, type OutboxOptions, type SettledItem } from "../../../src/console/outbox/outbox.ts";
import { openStateDb, type StateDb } from "../../../src/db/open.ts";
import { LogHub, type LogRecord } from "../../../src/log/logger.ts";
import { ManualClock } from "../../../src/platform/clock.ts";

export interface Call {
  method: HttpMethod;
  path: string;
  body: unknown;
  at: number;
}
export type Respond = (call: Call, signal?: AbortSignal) => number | HttpResult | Promise<number | HttpResult>;

/** Registers the per-test temp dir and cleanup hooks; returns `openDb` and `harness` bound to them. */
export function useOutboxHarness() {
  let dir = "";
  let cleanups: (() => unknown)[] = [];
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "alpamon-outbox-"));
    cleanups = [];
  });
  afterEach(async () => {
    for (const c of cleanups.reverse()) await c();
    rmSync(dir, { recursive: true, force: true });
  });

  function openDb(clock: ManualClock): StateDb {
    const state = openStateDb(join(dir, "alpamon.db"), { clock });
    cleanups.push(() => state.close());
    return state;
  }

  /** One outbox on the test's database file, with a fake console that records every call. */
  function harness(respond: Respond = () => 200, options: Partial<OutboxOptions> = {}, clock = new ManualClock()) {
    const state = openDb(clock);
    const calls: Call[] = [];
    const records: LogRecord[] = [];
    const lines: string[] = [];
    const hub = new LogHub({ write: (l) => lines.push(l), close: () => {} }, "debug", () => clock.now());
    hub.listen((r) => records.push(r));
    const settled: SettledItem[] = [];
    let inflight = 0;
    const peak = { inflight: 0 };
    const sender = {
      async request(method: HttpMethod, path: string, o: { body?: unknown; signal?: AbortSignal }): Promise<HttpResult> {
        const call = { method, path, body: o.body === undefined ? undefined : JSON.parse(o.body as string), at: clock.now() };
        calls.push(call);
        peak.inflight = Math.max(peak.inflight, ++inflight);
        try {
          const r = await respond(call, o.signal);
          return typeof r === "number" ? { status: r, text: "" } : r;
        } finally {
          inflight--;
        }
      },
    };
    const outbox = new Outbox({
      state,
      sender,
      log: hub.logger("outbox"),
      clock,
      random: () => 0.5,
      onSettled: (s) => settled.push(s),
      ...options,
    });
    cleanups.push(() => outbox.stop());
    const warnings = () => records.filter((r) => r.level === "warn");
    const rowCount = () => (state.sqlite.query("SELECT count(*) AS n FROM outbox").get() as { n: number }).n;
    const paths = () => (state.sqlite.query("SELECT path FROM outbox ORDER BY id").all() as { path: string }[]).map((r) => r.path);
    return { clock, state, outbox, calls, records, lines, settled, warnings, rowCount, paths, peak };
  }

  return { openDb, harness, cleanup: (fn: () => unknown) => cleanups.push(fn) };
}

/** Lets immediates run until `condition` holds. */
export async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 5000; i++) {
    if (condition()) return;
    await new Promise((resolve) => setImmediate(resolve));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Lets every pending microtask and immediate run, so "nothing happened" is really nothing. */
export async function quiet(): Promise<void> {
  for (let i = 0; i < 50; i++) await new Promise((resolve) => setImmediate(resolve));
}

export const post = (path: string, priority: number, body?: unknown) => ({ method: "POST" as const, path, priority, body });
