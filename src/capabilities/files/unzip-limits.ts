// Zip-bomb limits for `download` with allow_unzip: entry count, total uncompressed bytes and per-entry
// compression ratio, checked twice: on the central directory's declared sizes before anything is written,
// and on the bytes actually inflated (a lying archive is stopped as soon as it outgrows what it declared).
import type { UnzipLimits } from "../../config/schema.ts";
import { FileError } from "./errors.ts";

export { DEFAULT_UNZIP_LIMITS, type UnzipLimits } from "../../config/schema.ts";

/** What the limits need of a zip-read.ts ZipEntry (declared sizes). */
export interface SizedEntry {
  name: string;
  size: number;
  compressed: number;
  isDir: boolean;
}

/** Entries up to this size are exempt from the ratio: a small file of spaces is harmless whatever its ratio. */
export const RATIO_EXEMPT_BYTES = 1 << 20;

export class UnzipRefused extends FileError {
  constructor(why: string) {
    super("EFBIG", `unzip refused: ${why}`);
  }
}

/** 4 GiB, 1.2 MiB, 512 bytes: binary units, one decimal when not whole. */
export function formatBytes(n: number): string {
  for (const [unit, size] of [
    ["TiB", 1024 ** 4],
    ["GiB", 1024 ** 3],
    ["MiB", 1024 ** 2],
    ["KiB", 1024],
  ] as const) {
    if (n >= size) return `${Number((n / size).toFixed(1))} ${unit}`;
  }
  return `${n} bytes`;
}

export function checkEntryCount(count: number, limits: UnzipLimits): void {
  if (count > limits.maxEntries) throw new UnzipRefused(`too many entries (${count}, limit ${limits.maxEntries})`);
}

function checkRatio(entry: SizedEntry, bytes: number, limits: UnzipLimits): void {
  if (bytes <= RATIO_EXEMPT_BYTES) return;
  const ratio = bytes / Math.max(entry.compressed, 1);
  if (ratio > limits.maxRatio)
    throw new UnzipRefused(`entry ${entry.name} has compression ratio ${Math.round(ratio)}:1 (limit ${limits.maxRatio}:1)`);
}

/** Refuses the archive on what its central directory declares. */
export function checkDeclared(entries: SizedEntry[], limits: UnzipLimits): void {
  checkEntryCount(entries.length, limits);
  let total = 0;
  for (const entry of entries) {
    if (entry.isDir) continue;
    checkRatio(entry, entry.size, limits);
    total += entry.size;
  }
  if (total > limits.maxBytes)
    throw new UnzipRefused(`the archive expands to more than ${formatBytes(limits.maxBytes)} (it declares ${formatBytes(total)})`);
}

/** Counts the bytes really inflated, across the whole archive. */
export class InflateBudget {
  private total = 0;

  constructor(private readonly limits: UnzipLimits) {}

  /** Called after each chunk of `entry` with its bytes so far; throws past any limit. */
  take(entry: SizedEntry, chunk: number, entrySoFar: number): void {
    this.total += chunk;
    if (entrySoFar > entry.size) throw new UnzipRefused(`entry ${entry.name} expands beyond its declared size (${entry.size} bytes)`);
    if (this.total > this.limits.maxBytes) throw new UnzipRefused(`the archive expands to more than ${formatBytes(this.limits.maxBytes)}`);
    checkRatio(entry, entrySoFar, this.limits);
  }
}
