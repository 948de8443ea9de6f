// Writes an `alpamon --once` sample into the state database through the one metrics store, one transaction.
// Never sends anything: delivery to the console reads these tables (metrics pipeline).
import { createMetricsStore } from "../../db/metrics.ts";
import type { StateDb } from "../../db/open.ts";
import type { OnceSample } from "./once.ts";

/** Records every section of a sample under one timestamp (epoch ms UTC). */
export function recordSample(state: StateDb, sample: OnceSample): void {
  createMetricsStore(state).record(Date.parse(sample.timestamp), {
    cpu: sample.cpu.usage,
    memory: sample.memory.usage,
    diskUsage: sample.disk_usage.map((d) => ({
      device: d.device,
      mountPoint: d.mount_point,
      usage: d.usage,
      total: d.total,
      free: d.free,
      used: d.used,
    })),
    diskIo: sample.disk_io.map((d) => ({ device: d.device, readBps: d.read_bps, writeBps: d.write_bps })),
    traffic: sample.traffic.map((t) => ({
      name: t.name,
      inputBps: t.input_bps,
      outputBps: t.output_bps,
      inputPps: t.input_pps,
      outputPps: t.output_pps,
    })),
  });
}
