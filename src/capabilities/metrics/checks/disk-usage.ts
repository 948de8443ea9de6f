// The `disk-usage` check: statfs of every real block-device mount, in parallel and off the event loop, each
// bounded by a timeout; stored and sent. A mount that fails or hangs is skipped (and not asked again while its
// earlier call is still stuck). Never spawns a process.
import { promises as fsp } from "node:fs";
import {
  parseMountinfo,
  readMountinfoText,
  selectBlockMounts,
  sysfsDeviceResolver,
  usageFromStatfs,
  type DiskUsage,
  type StatfsNumbers,
} from "../../../platform/proc/mountinfo.ts";
import { iso, postRealtime, type CheckContext, type CheckDefinition, type CheckRun } from "./context.ts";

export const DISK_USAGE_PATH = "/api/metrics/realtime/disk-usage/";

export function diskUsageCheck(ctx: CheckContext): CheckRun {
  const stuck = new Set<string>();
  // The mount table changes rarely: while its text is the same, so is the selection (parsed and resolved
  // against /sys once, not every 5 s; on a host with hundreds of container mounts that is most of the work).
  let lastTable: string | undefined;
  let lastSelected: ReturnType<typeof selectBlockMounts> = [];
  return async () => {
    const table = ctx.problems.attempt(`${ctx.procRoot}/mountinfo`, "cannot read the mount table; skipping disk usage", () =>
      readMountinfoText(ctx.procRoot),
    );
    if (table === undefined) return;
    const timestamp = ctx.clock.now();
    if (table !== lastTable) {
      lastSelected = selectBlockMounts(parseMountinfo(table), sysfsDeviceResolver(ctx.sysRoot));
      lastTable = table;
    }
    const selected = lastSelected;
    const results = await Promise.all(
      selected.map((m) =>
        statfsWithin(ctx, m.mountPoint, stuck)
          .then(usageFromStatfs)
          .then(
            (u) => u,
            (err: unknown) => err as Error,
          ),
      ),
    );
    const measured: { device: string; mountPoint: string; usage: DiskUsage }[] = [];
    selected.forEach((mount, i) => {
      const result = results[i]!;
      const key = `statfs ${mount.mountPoint}`;
      if (result instanceof Error) {
        ctx.problems.report(key, "cannot statfs a mount; skipping it", result);
        return;
      }
      ctx.problems.clear(key);
      measured.push({ device: mount.device, mountPoint: mount.mountPoint, usage: result });
    });
    if (measured.length === 0) return;
    ctx.metrics.record(timestamp, {
      diskUsage: measured.map(({ device, mountPoint, usage: u }) => ({
        device,
        mountPoint,
        usage: u.usage,
        total: Math.round(u.total),
        free: Math.round(u.free),
        used: Math.round(u.used),
      })),
    });
    postRealtime(
      ctx,
      DISK_USAGE_PATH,
      measured.map(({ device, usage: u }) => ({
        timestamp: iso(timestamp),
        device,
        usage: u.usage,
        total: u.total,
        free: u.free,
        used: u.used,
      })),
    );
  };
}

async function statfsWithin(ctx: CheckContext, mountPoint: string, stuck: Set<string>): Promise<StatfsNumbers> {
  if (stuck.has(mountPoint)) throw new Error("an earlier statfs of this mount has not returned yet");
  const statfs = ctx.statfs ?? ((path: string) => fsp.statfs(path));
  const call = (async () => statfs(mountPoint))();
  stuck.add(mountPoint);
  call.finally(() => stuck.delete(mountPoint)).catch(() => {});
  const cancel = new AbortController();
  const timeout = ctx.clock.sleep(ctx.statfsTimeoutMs, cancel.signal).then(
    () => Promise.reject(new Error(`statfs did not answer within ${ctx.statfsTimeoutMs} ms`)),
    () => new Promise<never>(() => {}), // cancelled: the call won the race
  );
  try {
    return await Promise.race([call, timeout]);
  } finally {
    cancel.abort();
  }
}

export const diskUsage: CheckDefinition = { first: "now", build: (ctx) => diskUsageCheck(ctx) };
