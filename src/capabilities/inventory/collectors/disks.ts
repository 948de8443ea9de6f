// The `disks` and `partitions` keys from /sys/block and mountinfo. A partition's disk_name comes from sysfs
// (the parent of /sys/class/block/<part>), so nvme0n1p2 → nvme0n1, mmcblk0p1 → mmcblk0 and dm-0 → dm-0,
// matching disks[].name (spec/metrics.md §12 #24). Never spawns a process.
import { readdirSync, readlinkSync } from "node:fs";
import { basename, dirname } from "node:path";
import { isRealBlockMount, readMountinfo, sysfsDeviceResolver, type MountInfo } from "../../../platform/proc/mountinfo.ts";
import type { DiskRow, PartitionRow } from "../types.ts";
import { readText, type CollectorEnv } from "./env.ts";

/** Loop images, RAM disks, floppies, optical drives and compressed swap are not disks. */
const VIRTUAL_DISK = /^(loop|ram|fd|sr|zram)\d*$/;

/** `E:ID_SERIAL=` (else ID_SERIAL_SHORT) of a udev database entry. */
export function parseUdevSerial(text: string): string {
  return /^E:ID_SERIAL=(.*)$/m.exec(text)?.[1]?.trim() || /^E:ID_SERIAL_SHORT=(.*)$/m.exec(text)?.[1]?.trim() || "";
}

export function collectDisks(env: CollectorEnv): DiskRow[] {
  let names: string[];
  try {
    names = readdirSync(`${env.sysRoot}/block`);
  } catch {
    return [];
  }
  const rows: DiskRow[] = [];
  for (const sysName of names.sort()) {
    const name = sysName.replaceAll("!", "/");
    if (VIRTUAL_DISK.test(name)) continue;
    const dir = `${env.sysRoot}/block/${sysName}`;
    const majMin = readText(`${dir}/dev`);
    const serial =
      (majMin && parseUdevSerial(readText(`/run/udev/data/b${majMin}`))) || readText(`${dir}/device/serial`) || readText(`${dir}/serial`);
    rows.push({ name, serial_number: serial, label: readText(`${dir}/dm/name`) });
  }
  return rows;
}

/**
 * The whole disk a block device belongs to: the parent directory of its sysfs node when it is a partition
 * (has a `partition` file), else itself. `lookup` returns the sysfs path's target, or undefined.
 */
export function diskNameOf(device: string, isPartition: (name: string) => boolean, parentOf: (name: string) => string | undefined): string {
  const name = device.replace(/^\/dev\//, "");
  if (!isPartition(name)) return name;
  return parentOf(name) ?? name;
}

/** Real block-device mounts grouped by device; mount points sorted; devices sorted by name. */
export function partitionRows(
  mounts: readonly MountInfo[],
  resolve: (m: MountInfo) => string,
  diskName: (device: string) => string,
): PartitionRow[] {
  const byDevice = new Map<string, PartitionRow>();
  for (const mount of mounts) {
    const device = resolve(mount);
    if (!isRealBlockMount(device, mount.fsType, mount.mountPoint)) continue;
    let row = byDevice.get(device);
    if (!row) {
      row = { name: device, mount_points: [], disk_name: diskName(device), fs_type: mount.fsType, is_virtual: false };
      byDevice.set(device, row);
    }
    if (!row.mount_points.includes(mount.mountPoint)) row.mount_points.push(mount.mountPoint);
  }
  const rows = [...byDevice.values()].sort((a, b) => a.name.localeCompare(b.name));
  for (const row of rows) row.mount_points.sort();
  return rows;
}

export function collectPartitions(env: CollectorEnv): PartitionRow[] {
  let mounts: MountInfo[];
  try {
    mounts = readMountinfo(env.procRoot);
  } catch {
    return [];
  }
  const sysName = (name: string) => name.replaceAll("/", "!");
  const isPartition = (name: string) => readText(`${env.sysRoot}/class/block/${sysName(name)}/partition`) !== "";
  const parentOf = (name: string) => {
    try {
      const target = readlinkSync(`${env.sysRoot}/class/block/${sysName(name)}`);
      return basename(dirname(target)).replaceAll("!", "/");
    } catch {
      return undefined;
    }
  };
  return partitionRows(mounts, sysfsDeviceResolver(env.sysRoot), (device) => diskNameOf(device, isPartition, parentOf));
}
