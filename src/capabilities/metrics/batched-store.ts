// The collector's view of the metrics store: the samples recorded in one turn of the event loop (the checks
// whose slots fall together run in the same turn) are written in one SQLite transaction when the turn ends,
// instead of one transaction each. Every read and every other write first writes what is pending, so no reader
// ever misses a sample. A failed write loses that turn's samples (a sample is not something the agent
// acknowledged): one warning per streak of failures, an info line when writes work again.
import type { MetricsStore, SampleSet } from "../../db/metrics.ts";
import type { Problems } from "./checks/context.ts";

export interface BatchedMetricsStore extends MetricsStore {
  /** Writes what is pending now (stop() calls it; reads do it themselves). */
  flush(): void;
}

const SOURCE = "metric samples";

/** `later` runs a callback once the current turn's callbacks and microtasks are done (setImmediate). */
export function batchSamples(
  store: MetricsStore,
  problems: Pick<Problems, "attempt">,
  later: (run: () => void) => void = (run) => setImmediate(run),
): BatchedMetricsStore {
  let pending: { timestamp: number; set: SampleSet }[] = [];
  let scheduled = false;
  const flush = (): void => {
    scheduled = false;
    if (pending.length === 0) return;
    const samples = pending;
    pending = [];
    problems.attempt(SOURCE, "cannot write metric samples to the state database; they are lost", () => store.recordMany(samples));
  };
  const flushed =
    <A extends unknown[], R>(read: (...args: A) => R) =>
    (...args: A): R => {
      flush();
      return read(...args);
    };
  return {
    flush,
    record(timestamp, set) {
      pending.push({ timestamp, set });
      if (scheduled) return;
      scheduled = true;
      later(flush);
    },
    recordMany(samples) {
      flush();
      store.recordMany(samples);
    },
    diskIoWindow: flushed(store.diskIoWindow),
    trafficWindow: flushed(store.trafficWindow),
    queued: flushed(store.queued),
    readMark: flushed(store.readMark),
    writeMark: flushed(store.writeMark),
    rollupHours: flushed(store.rollupHours),
    hourlyRowsAfter: flushed(store.hourlyRowsAfter),
    pendingDays: flushed(store.pendingDays),
    dailyRows: flushed(store.dailyRows),
    prune: flushed(store.prune),
  };
}
