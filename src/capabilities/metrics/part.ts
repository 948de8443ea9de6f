// The metrics collector as a part of the agent: built from the console link's HTTP client and outbox, started
// after the outbox, stopped before it. Never fetches or sends anything itself; the Collector does.
import type { Part } from "../../agent.ts";
import { Collector, type CollectorOptions } from "./collector.ts";

export type MetricsPartOptions = Pick<CollectorOptions, "http" | "outbox" | "state" | "clock" | "log" | "retention">;

/** The part, and `restartCollector` for the agent commands (`restart collector`, `restartcoll`). */
export function metricsPart(options: MetricsPartOptions): { part: Part; restartCollector: () => void; collector: Collector } {
  const log = options.log;
  const collector = new Collector({ ...options, ...(options.retention ? { retention: options.retention } : {}) });
  return {
    collector,
    part: { name: "metrics", start: () => collector.start(), stop: () => collector.stop() },
    restartCollector: () => {
      collector.restart().catch((err) => log.error("restarting the metrics collector failed", { error: err }));
    },
  };
}
