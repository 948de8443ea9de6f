// Runs the collectors a commit or sync needs and returns what they produced. A collector that fails leaves
// its key out (logged), never a zero value: an empty `users` would make the console delete every user.
import type { Logger } from "../../log/logger.ts";
import { collectGroups, collectUsers } from "./collectors/accounts.ts";
import { collectDisks, collectPartitions } from "./collectors/disks.ts";
import type { CollectorEnv } from "./collectors/env.ts";
import { collectInfo } from "./collectors/info.ts";
import { collectAddresses, collectInterfaces } from "./collectors/network.ts";
import { collectOs } from "./collectors/os.ts";
import { collectPackages } from "./collectors/packages.ts";
import { collectServer } from "./collectors/server.ts";
import { collectTime } from "./collectors/time.ts";
import { SNAPSHOT_KEYS, type Snapshot, type SnapshotKey } from "./types.ts";

type Collectors = { [K in SnapshotKey]: (env: CollectorEnv, partial: Partial<Snapshot>) => Snapshot[K] | Promise<Snapshot[K]> };

const COLLECTORS: Collectors = {
  server: collectServer,
  info: collectInfo,
  os: collectOs,
  time: collectTime,
  users: collectUsers,
  groups: collectGroups,
  interfaces: collectInterfaces,
  // Needs the interface list, so every address's interface is in `interfaces`.
  addresses: (env) => collectAddresses(collectInterfaces(env)),
  packages: collectPackages,
  disks: collectDisks,
  partitions: collectPartitions,
};

export async function collectSnapshot(
  env: CollectorEnv,
  log: Logger,
  keys: readonly SnapshotKey[] = SNAPSHOT_KEYS,
): Promise<Partial<Snapshot>> {
  const snapshot: Partial<Snapshot> = {};
  await Promise.all(
    keys.map(async (key) => {
      try {
        (snapshot as Record<string, unknown>)[key] = await COLLECTORS[key](env, snapshot);
      } catch (err) {
        log.warn("could not collect this inventory key; it is left out", { key, error: err });
      }
    }),
  );
  return snapshot;
}
