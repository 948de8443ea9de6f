// /proc/diskstats probe: per-device read/write byte counters for whole disks, and bytes/s between two snapshots.
// Pure parsing and arithmetic apart from the tiny readers; never spawns a process, never emits a rate from a reset counter.
import { readFileSync, readdirSync } from "node:fs";

export interface DiskCounters {
  name: string;
  readBytes: number;
  writeBytes: number;
}

/** diskstats counts 512-byte sectors whatever the device's real sector size. */
const SECTOR_BYTES = 512;

/**
 * Every device line of /proc/diskstats. Lines with fewer than 14 fields (2.6-era partition lines,
 * whose field 6 is not "sectors read") are skipped, as gopsutil does.
 */
export function parseDiskstats(text: string): DiskCounters[] {
  const disks: DiskCounters[] = [];
  for (const line of text.split("\n")) {
    const fields = line.trim().split(/\s+/);
    if (fields.length < 14) continue;
    const sectorsRead = Number(fields[5]);
    const sectorsWritten = Number(fields[9]);
    if (!Number.isFinite(sectorsRead) || !Number.isFinite(sectorsWritten)) continue;
    disks.push({
      name: fields[2]!,
      readBytes: sectorsRead * SECTOR_BYTES,
      writeBytes: sectorsWritten * SECTOR_BYTES,
    });
  }
  return disks;
}

export function readDiskstats(procRoot = "/proc"): DiskCounters[] {
  return parseDiskstats(readFileSync(`${procRoot}/diskstats`, "utf8"));
}

/** Entries of /sys/block: whole disks (and dm-*, md*, loop...), never partitions. Throws when unreadable. */
export function readWholeDiskNames(sysRoot = "/sys"): Set<string> {
  return new Set(readdirSync(`${sysRoot}/block`));
}

/** spec/metrics.md §4 IsVirtualDisk: loop images, RAM disks, floppies, optical drives, compressed swap. */
const VIRTUAL_DISK = /^(loop|ram|fd|sr|zram)\d*$/;

/**
 * A whole, non-virtual disk. dm-* and md* are kept as devices of their own (they are in /sys/block):
 * their I/O also shows on the member disks, but they are what the operator named and mounted.
 * sysfs writes a "/" in a device name (cciss/c0d0) as "!".
 */
export function isWholeDisk(name: string, wholeDiskNames: ReadonlySet<string>): boolean {
  return wholeDiskNames.has(name.replaceAll("/", "!")) && !VIRTUAL_DISK.test(name);
}

export function filterWholeDisks(disks: readonly DiskCounters[], wholeDiskNames: ReadonlySet<string>): DiskCounters[] {
  return disks.filter((disk) => isWholeDisk(disk.name, wholeDiskNames));
}

export interface DiskIoRate {
  device: string;
  /** bytes per second (the wire calls it `read_bps`). */
  read_bps: number;
  write_bps: number;
}

/**
 * bytes/s per device present in both snapshots, in `cur` order. A device seen only once, or whose
 * counter went backwards (reset, wrap, re-attached device), yields no sample rather than a bogus one.
 */
export function diskIoRates(prev: readonly DiskCounters[], cur: readonly DiskCounters[], elapsedSeconds: number): DiskIoRate[] {
  if (!(elapsedSeconds > 0)) return [];
  const before = new Map(prev.map((disk) => [disk.name, disk]));
  const rates: DiskIoRate[] = [];
  for (const disk of cur) {
    const old = before.get(disk.name);
    if (!old || disk.readBytes < old.readBytes || disk.writeBytes < old.writeBytes) continue;
    rates.push({
      device: disk.name,
      read_bps: (disk.readBytes - old.readBytes) / elapsedSeconds,
      write_bps: (disk.writeBytes - old.writeBytes) / elapsedSeconds,
    });
  }
  return rates;
}
