// The metrics capability: the collector as a part of the agent, built from the console link's HTTP client and
// outbox, started after the outbox, stopped before it. Never fetches or sends anything itself; the Collector does.
import type { Capability } from "../../commands/capability.ts";
import type { Part } from "../../platform/lifecycle.ts";
import { Collector, type CollectorOptions } from "./collector.ts";

export type MetricsDeps = Pick<CollectorOptions, "http" | "outbox" | "state" | "clock" | "log" | "retention">;

export interface Metrics extends Capability {
  parts: Part[];
  /** For the agent commands (`restart collector`, `restartcoll`). */
  restartCollector: () => void;
  collector: Collector;
}

export function createMetrics(deps: MetricsDeps): Metrics {
  const log = deps.log;
  const collector = new Collector({ ...deps, ...(deps.retention ? { retention: deps.retention } : {}) });
  return {
    name: "metrics",
    collector,
    parts: [{ name: "metrics", start: () => collector.start(), stop: () => collector.stop() }],
    restartCollector: () => {
      collector.restart().catch((err) => log.error("restarting the metrics collector failed", { error: err }));
    },
  };
}
