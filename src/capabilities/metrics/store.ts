// Writes realtime samples into the state database, one transaction per sample set.
// Never sends anything: delivery to the console reads these tables (metrics pipeline).
import type { StateDrizzle } from "../../db/open.ts";
import { cpuSamples, diskIoSamples, diskUsageSamples, memorySamples, trafficSamples } from "../../db/schema.ts";
import type { OnceSample } from "./once.ts";

/** Records every section of a sample under one timestamp (epoch ms UTC). */
export function recordSample(db: StateDrizzle, sample: OnceSample): void {
  const timestamp = Date.parse(sample.timestamp);
  db.transaction(
    (tx) => {
      tx.insert(cpuSamples).values({ timestamp, usage: sample.cpu.usage }).run();
      tx.insert(memorySamples).values({ timestamp, usage: sample.memory.usage }).run();
      for (const d of sample.disk_usage) {
        tx.insert(diskUsageSamples)
          .values({ timestamp, device: d.device, mountPoint: d.mount_point, usage: d.usage, total: d.total, free: d.free, used: d.used })
          .run();
      }
      for (const d of sample.disk_io) {
        tx.insert(diskIoSamples).values({ timestamp, device: d.device, readBps: d.read_bps, writeBps: d.write_bps }).run();
      }
      for (const t of sample.traffic) {
        tx.insert(trafficSamples)
          .values({
            timestamp,
            name: t.name,
            inputBps: t.input_bps,
            outputBps: t.output_bps,
            inputPps: t.input_pps,
            outputPps: t.output_pps,
          })
          .run();
      }
    },
    { behavior: "immediate" },
  );
}
