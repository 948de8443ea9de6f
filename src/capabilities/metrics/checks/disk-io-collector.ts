// The `disk-io-collector` check: bytes/s per whole disk since its previous run, divided by the measured
// elapsed time, stored only (the `disk-io` check sends). Never emits a rate without a baseline or from a
// counter that went back.
import { diskIoRates, filterWholeDisks, readDiskstats, readWholeDiskNames, type DiskCounters } from "../../../platform/proc/diskstats.ts";
import type { CheckContext, CheckDefinition, CheckRun, Snapshot } from "./context.ts";

export function diskIoCollector(ctx: CheckContext): CheckRun {
  let previous: Snapshot<DiskCounters> | undefined;
  return () => {
    const at = ctx.clock.monotonic();
    const all = ctx.problems.attempt(`${ctx.procRoot}/diskstats`, "cannot read disk counters; skipping disk I/O", () =>
      readDiskstats(ctx.procRoot),
    );
    const whole =
      all &&
      ctx.problems.attempt(`${ctx.sysRoot}/block`, "cannot list whole disks; skipping disk I/O", () => readWholeDiskNames(ctx.sysRoot));
    const before = previous;
    previous = all && whole ? { counters: filterWholeDisks(all, whole), at } : undefined;
    if (!previous || !before) return;
    const rates = diskIoRates(before.counters, previous.counters, (at - before.at) / 1000);
    if (rates.length === 0) return;
    ctx.metrics.record(ctx.clock.now(), { diskIo: rates.map((r) => ({ device: r.device, readBps: r.read_bps, writeBps: r.write_bps })) });
  };
}

export const diskIoCollectorCheck: CheckDefinition = { first: "now", build: (ctx) => diskIoCollector(ctx) };
