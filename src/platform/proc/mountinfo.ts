// mountinfo + statfs probe: which mounts are real block-device file systems, and how full each one is.
// Never spawns a process (no df) and never throws out of a pure function; readers throw, callers skip.
import { readFileSync, statfsSync } from "node:fs";

export interface MountInfo {
  mountId: number;
  parentId: number;
  /** `major:minor` of the device as the kernel sees it (0:N for anonymous devices: btrfs, tmpfs...). */
  majorMinor: string;
  root: string;
  mountPoint: string;
  options: string;
  fsType: string;
  source: string;
  superOptions: string;
}

/** The kernel escapes space, tab, newline and backslash in mountinfo as `\ooo` octal. */
export function decodeMountField(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

export function parseMountinfo(text: string): MountInfo[] {
  const mounts: MountInfo[] = [];
  for (const line of text.split("\n")) {
    const fields = line.trim().split(" ");
    // Optional fields (shared:N, master:N...) sit between field 6 and the lone "-" separator.
    const separator = fields.indexOf("-", 6);
    if (fields.length < 7 || separator < 0 || fields.length < separator + 3) continue;
    mounts.push({
      mountId: Number(fields[0]),
      parentId: Number(fields[1]),
      majorMinor: fields[2]!,
      root: decodeMountField(fields[3]!),
      mountPoint: decodeMountField(fields[4]!),
      options: fields[5]!,
      fsType: fields[separator + 1]!,
      source: decodeMountField(fields[separator + 2]!),
      superOptions: fields[separator + 3] ?? "",
    });
  }
  return mounts;
}

/** PID 1's view shows the host's mounts even when we run in a private mount namespace; self is the fallback. */
export function readMountinfo(procRoot = "/proc"): MountInfo[] {
  return parseMountinfo(readMountinfoText(procRoot));
}

/** The mount table's text, as readMountinfo reads it (for a caller that skips the parse when it is unchanged). */
export function readMountinfoText(procRoot = "/proc"): string {
  try {
    return readFileSync(`${procRoot}/1/mountinfo`, "utf8");
  } catch {
    return readFileSync(`${procRoot}/self/mountinfo`, "utf8");
  }
}

/** spec/metrics.md §4 IsVirtualFileSystem's list. */
export const VIRTUAL_FS_TYPES: ReadonlySet<string> = new Set([
  "tmpfs",
  "devtmpfs",
  "proc",
  "sysfs",
  "cgroup",
  "cgroup2",
  "overlay",
  "autofs",
  "devfs",
  "securityfs",
  "fusectl",
  "hugetlbfs",
  "debugfs",
  "pstore",
  "tracefs",
  "devpts",
  "mqueue",
  "bpf",
  "configfs",
  "binfmt_misc",
]);

// Anchored so that /sysroot, /system or /running are not mistaken for kernel trees (the reference's bug).
const KERNEL_TREE = /^\/(sys|proc|dev|run)(\/|$)/;

/** A mount worth reporting: a /dev block device (not a loop image), a disk file system, outside kernel trees. */
export function isRealBlockMount(device: string, fsType: string, mountPoint: string): boolean {
  return device.startsWith("/dev/") && !device.startsWith("/dev/loop") && !VIRTUAL_FS_TYPES.has(fsType) && !KERNEL_TREE.test(mountPoint);
}

export interface BlockMount {
  device: string;
  mountPoint: string;
  fsType: string;
}

/**
 * Real block mounts in mountinfo order, one per device: the first mount of a device wins, so bind
 * mounts and btrfs subvolumes of an already listed device are dropped. `resolveDevice` maps aliases
 * such as /dev/root or /dev/mapper/<name> to the kernel name before filtering and de-duplication.
 */
export function selectBlockMounts(
  mounts: readonly MountInfo[],
  resolveDevice: (mount: MountInfo) => string = (mount) => mount.source,
): BlockMount[] {
  const seen = new Set<string>();
  const selected: BlockMount[] = [];
  for (const mount of mounts) {
    const device = resolveDevice(mount);
    if (!isRealBlockMount(device, mount.fsType, mount.mountPoint) || seen.has(device)) continue;
    seen.add(device);
    selected.push({ device, mountPoint: mount.mountPoint, fsType: mount.fsType });
  }
  return selected;
}

/** `DEVNAME=` of a sysfs uevent file (e.g. `vda`, `dm-0`, `nvme0n1p2`). */
export function parseUeventDevName(text: string): string | undefined {
  return /^DEVNAME=(.+)$/m.exec(text)?.[1]?.trim() || undefined;
}

/**
 * Resolves /dev/root and /dev/mapper/<name> to /dev/<kernel name> through /sys/dev/block/<maj:min>,
 * as the reference does (it reports /dev/dm-0, not /dev/mapper/vg-root). Anything else, or a failed
 * look-up, keeps the source as written.
 */
export function sysfsDeviceResolver(sysRoot = "/sys"): (mount: MountInfo) => string {
  return (mount) => {
    if (mount.source !== "/dev/root" && !mount.source.startsWith("/dev/mapper/")) return mount.source;
    try {
      const name = parseUeventDevName(readFileSync(`${sysRoot}/dev/block/${mount.majorMinor}/uevent`, "utf8"));
      return name ? `/dev/${name}` : mount.source;
    } catch {
      return mount.source;
    }
  };
}

/** The statfs fields the usage math needs (node's StatsFs has them all). */
export interface StatfsNumbers {
  bsize: number;
  /** Fragment size, the unit of the block counts per POSIX; 0 or absent means "same as bsize". */
  frsize?: number;
  blocks: number;
  bfree: number;
  bavail: number;
}

export interface DiskUsage {
  total: number;
  free: number;
  used: number;
  usage: number;
}

/**
 * used counts blocks reserved for root as free-for-nobody, free is what an ordinary user can still write,
 * so usage = used / (used + free) matches `df`'s Use% rather than used / total.
 */
export function usageFromStatfs(stats: StatfsNumbers): DiskUsage {
  const unit = stats.frsize && stats.frsize > 0 ? stats.frsize : stats.bsize;
  const total = stats.blocks * unit;
  const free = stats.bavail * unit;
  const used = Math.max(0, stats.blocks - stats.bfree) * unit;
  const denominator = used + free;
  return { total, free, used, usage: denominator > 0 ? (used / denominator) * 100 : 0 };
}

export type Statfs = (mountPoint: string) => StatfsNumbers;

/** statfs of one mount point; throws on error (the caller skips that mount). */
export function diskUsage(mountPoint: string, statfs: Statfs = statfsSync): DiskUsage {
  return usageFromStatfs(statfs(mountPoint));
}
