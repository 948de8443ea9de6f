// The collector's batched metrics store (batched-store.ts): the samples of one event-loop turn go to SQLite in
// one transaction; every read writes what is pending first; a failed write loses only that turn's samples and is
// reported once per streak. A real state database in a temp dir (the metrics harness).
import { describe, expect, test } from "bun:test";
import { batchSamples } from "../../../src/capabilities/metrics/batched-store.ts";
import type { MetricsStore } from "../../../src/db/metrics.ts";
import { useMetricsHarness } from "./harness.ts";

const harness = useMetricsHarness();
const T = Date.UTC(2026, 0, 1, 10, 0, 0);

/** The real store, with its transactions (recordMany calls) counted and, on demand, failing. */
function counted(store: MetricsStore) {
  const calls: number[] = [];
  let fail = false;
  const wrapped: MetricsStore = {
    ...store,
    recordMany(samples) {
      calls.push(samples.length);
      if (fail) throw new Error("disk I/O error");
      store.recordMany(samples);
    },
  };
  return { wrapped, calls, failing: (on: boolean) => (fail = on) };
}

const cpuRows = (h: ReturnType<typeof harness>) =>
  h.state.sqlite.query('SELECT "timestamp", usage FROM cpu_samples ORDER BY "timestamp"').all() as { timestamp: number; usage: number }[];

describe("batched metrics store", () => {
  test("the samples of one turn are written in one transaction when the turn ends", async () => {
    const h = harness();
    const c = counted(h.ctx.metrics);
    const store = batchSamples(c.wrapped, h.ctx.problems);
    store.record(T, { cpu: 10 });
    store.record(T, { memory: 20 });
    store.record(T + 1, { cpu: 11, traffic: [{ name: "eth0", inputBps: 1, outputBps: 2, inputPps: 3, outputPps: 4 }] });
    expect(c.calls).toEqual([]); // nothing yet: the turn is not over
    expect(cpuRows(h)).toEqual([]);
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    expect(c.calls).toEqual([3]);
    expect(cpuRows(h)).toEqual([
      { timestamp: T, usage: 10 },
      { timestamp: T + 1, usage: 11 },
    ]);
    expect(h.state.sqlite.query("SELECT count(*) AS n FROM traffic_samples").get()).toEqual({ n: 1 });
    // The next turn starts a new batch.
    store.record(T + 2, { cpu: 12 });
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    expect(c.calls).toEqual([3, 1]);
  });

  test("a read in the same turn sees what was just recorded (it writes the pending samples first)", () => {
    const h = harness();
    const c = counted(h.ctx.metrics);
    const store = batchSamples(c.wrapped, h.ctx.problems, () => {}); // the end of the turn never comes
    store.record(T, { diskIo: [{ device: "sda", readBps: 100, writeBps: 200 }] });
    const window = store.diskIoWindow(T - 1_000, T);
    expect(window).toHaveLength(1);
    expect(window[0]).toMatchObject({ device: "sda", peak_read_bps: 100, peak_write_bps: 200 });
    expect(c.calls).toEqual([1]);
    store.record(T + 1, { cpu: 5 });
    store.flush();
    expect(cpuRows(h)).toEqual([{ timestamp: T + 1, usage: 5 }]);
    store.flush(); // nothing pending: no empty transaction
    expect(c.calls).toEqual([1, 1]);
  });

  test("a failed write loses that turn's samples with one warning per streak; later samples are written", () => {
    const h = harness();
    const c = counted(h.ctx.metrics);
    const store = batchSamples(c.wrapped, h.ctx.problems, () => {});
    c.failing(true);
    store.record(T, { cpu: 1 });
    store.flush();
    store.record(T + 1, { cpu: 2 });
    store.flush();
    const warnings = h.records.filter((r) => r.level === "warn");
    expect(warnings.map((r) => r.message)).toEqual(["cannot write metric samples to the state database; they are lost"]);
    expect(warnings[0]!.fields).toMatchObject({ source: "metric samples", error: "disk I/O error" });
    c.failing(false);
    store.record(T + 2, { cpu: 3 });
    store.flush();
    expect(cpuRows(h)).toEqual([{ timestamp: T + 2, usage: 3 }]);
    expect(h.records.some((r) => r.level === "info" && r.message === "metric source readable again")).toBe(true);
  });
});
