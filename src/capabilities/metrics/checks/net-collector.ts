// The `net-collector` check: bits/s and packets/s per reported interface since its previous run, stored only
// (the `net` check sends). Never emits a rate without a baseline or from a counter that went back.
import {
  isReportedInterface,
  readInterfaceFacts,
  readNetDev,
  trafficRates,
  type InterfaceCounters,
} from "../../../platform/proc/netdev.ts";
import type { CheckContext, CheckDefinition, CheckRun, Snapshot } from "./context.ts";

export function netCollector(ctx: CheckContext): CheckRun {
  let previous: Snapshot<InterfaceCounters> | undefined;
  return () => {
    const at = ctx.clock.monotonic();
    const all = ctx.problems.attempt(`${ctx.procRoot}/net/dev`, "cannot read interface counters; skipping traffic", () =>
      readNetDev(ctx.procRoot),
    );
    const before = previous;
    previous = all && { counters: all.filter((i) => isReportedInterface(readInterfaceFacts(i.name, ctx.sysRoot))), at };
    if (!previous || !before) return;
    const rates = trafficRates(before.counters, previous.counters, (at - before.at) / 1000);
    if (rates.length === 0) return;
    ctx.metrics.record(ctx.clock.now(), {
      traffic: rates.map((r) => ({
        name: r.name,
        inputPps: r.input_pps,
        inputBps: r.input_bps,
        outputPps: r.output_pps,
        outputBps: r.output_bps,
      })),
    });
  };
}

export const netCollectorCheck: CheckDefinition = { first: "now", build: (ctx) => netCollector(ctx) };
