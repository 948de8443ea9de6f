// Safe zip extraction for downloads: reads the central directory of an archive on disk, refuses the whole
// archive before writing anything if one entry would escape the target directory (absolute names, "..",
// backslashes, NUL), is a symlink, is encrypted or uses an unknown method, or breaks a zip-bomb limit
// (unzip-limits.ts), and then inflates entry by entry with bounded memory, never following a symlink in the
// destination and never replacing unless asked. All or nothing: entries are inflated to temporary names and
// renamed into place only once every one is complete; on any failure what was created is removed.
import {
  closeSync,
  constants as fsc,
  fstatSync,
  lstatSync,
  mkdirSync,
  openSync,
  readSync,
  renameSync,
  rmdirSync,
  rmSync,
  writeSync,
} from "node:fs";
import { basename, dirname, join } from "node:path";
import { FileError } from "./errors.ts";
import { renameNoReplace } from "./rename.ts";
import { checkDeclared, checkEntryCount, DEFAULT_UNZIP_LIMITS, InflateBudget, type UnzipLimits } from "./unzip-limits.ts";

export interface ZipEntry {
  name: string;
  method: number;
  flags: number;
  crc: number;
  compressed: number;
  size: number;
  localOffset: number;
  mode: number;
  isDir: boolean;
  isSymlink: boolean;
}

const CHUNK = 1 << 20;

function readAt(fd: number, length: number, position: number): Buffer {
  const buf = Buffer.alloc(length);
  const n = readSync(fd, buf, 0, length, position);
  return buf.subarray(0, n);
}

/** The archive's entries, or undefined when the file is not a zip archive. Refuses more than `maxEntries`. */
export function readCentralDirectory(fd: number, maxEntries = Infinity): ZipEntry[] | undefined {
  const size = fstatSync(fd).size;
  if (size < 22 || readAt(fd, 4, 0).readUInt32LE(0) !== 0x04034b50) return undefined;
  const tailStart = Math.max(0, size - 65_557);
  const tail = readAt(fd, size - tailStart, tailStart);
  let eocd = -1;
  for (let i = tail.length - 22; i >= 0; i--)
    if (tail.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  if (eocd < 0) return undefined;
  let count = tail.readUInt16LE(eocd + 10);
  let cdSize = tail.readUInt32LE(eocd + 12);
  let cdOffset = tail.readUInt32LE(eocd + 16);
  if (eocd >= 20 && tail.readUInt32LE(eocd - 20) === 0x07064b50) {
    const z = readAt(fd, 56, Number(tail.readBigUInt64LE(eocd - 20 + 8)));
    if (z.length === 56 && z.readUInt32LE(0) === 0x06064b50) {
      count = Number(z.readBigUInt64LE(32));
      cdSize = Number(z.readBigUInt64LE(40));
      cdOffset = Number(z.readBigUInt64LE(48));
    }
  }
  if (cdOffset + cdSize > size || cdSize > 256 * 1024 * 1024) return undefined;
  checkEntryCount(count, { ...DEFAULT_UNZIP_LIMITS, maxEntries });
  const cd = readAt(fd, cdSize, cdOffset);
  const entries: ZipEntry[] = [];
  let p = 0;
  for (let i = 0; i < count; i++) {
    if (p + 46 > cd.length || cd.readUInt32LE(p) !== 0x02014b50) return undefined;
    const madeBy = cd.readUInt16LE(p + 4) >> 8;
    const nameLen = cd.readUInt16LE(p + 28);
    const extraLen = cd.readUInt16LE(p + 30);
    const commentLen = cd.readUInt16LE(p + 32);
    const nameBuf = cd.subarray(p + 46, p + 46 + nameLen);
    const entry: ZipEntry = {
      name: nameBuf.toString("utf8"),
      flags: cd.readUInt16LE(p + 8),
      method: cd.readUInt16LE(p + 10),
      crc: cd.readUInt32LE(p + 16),
      compressed: cd.readUInt32LE(p + 20),
      size: cd.readUInt32LE(p + 24),
      localOffset: cd.readUInt32LE(p + 42),
      mode: madeBy === 3 ? cd.readUInt32LE(p + 38) >>> 16 : 0,
      isDir: false,
      isSymlink: false,
    };
    const extra = cd.subarray(p + 46 + nameLen, p + 46 + nameLen + extraLen);
    for (let e = 0; e + 4 <= extra.length; e += 4 + extra.readUInt16LE(e + 2)) {
      if (extra.readUInt16LE(e) !== 0x0001) continue;
      let q = e + 4;
      const take = () => {
        if (q + 8 > extra.length) return 0;
        const value = Number(extra.readBigUInt64LE(q));
        q += 8;
        return value;
      };
      if (entry.size === 0xffffffff) entry.size = take();
      if (entry.compressed === 0xffffffff) entry.compressed = take();
      if (entry.localOffset === 0xffffffff) entry.localOffset = take();
    }
    entry.isSymlink = (entry.mode & 0o170000) === 0o120000;
    entry.isDir = entry.name.endsWith("/") || (entry.mode & 0o170000) === 0o040000;
    entries.push(entry);
    p += 46 + nameLen + extraLen + commentLen;
  }
  return entries;
}

/** Why an entry may not be extracted, or undefined when it is safe. */
export function unsafeEntry(entry: ZipEntry): string | undefined {
  const name = entry.name;
  if (name === "" || name.includes("\0") || name.includes("\\")) return `${JSON.stringify(name)}: invalid entry name`;
  if (name.startsWith("/") || /^[A-Za-z]:/.test(name)) return `${name}: absolute path in archive`;
  if (name.split("/").includes("..")) return `${name}: path escapes the target directory`;
  if (entry.isSymlink) return `${name}: symbolic links are not extracted`;
  if (entry.flags & 1) return `${name}: encrypted entries are not supported`;
  if (!entry.isDir && entry.method !== 0 && entry.method !== 8) return `${name}: unsupported compression method ${entry.method}`;
  return undefined;
}

/** Refuses a destination path whose existing components (below `root`) include a symlink. */
function checkNoSymlinks(root: string, rel: string): void {
  let path = root;
  for (const part of rel.split("/").filter(Boolean)) {
    path = join(path, part);
    try {
      if (lstatSync(path).isSymbolicLink()) throw new FileError("ELOOP", `${path}: is a symbolic link; refusing to extract through it`);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
      throw err;
    }
  }
}

async function inflateTo(fd: number, entry: ZipEntry, dataStart: number, out: number, budget: InflateBudget): Promise<void> {
  // Loaded on first use, not at start: an agent that never zips need not load node:zlib (BENCHMARKS.md, issue 11).
  const { createInflateRaw, crc32 } = await import("node:zlib");
  let crc = 0;
  let written = 0;
  const sink = (chunk: Buffer) => {
    written += chunk.length;
    budget.take(entry, chunk.length, written);
    crc = crc32(chunk, crc);
    for (let off = 0; off < chunk.length; ) off += writeSync(out, chunk, off);
  };
  let position = dataStart;
  const end = dataStart + entry.compressed;
  if (entry.method === 0) {
    while (position < end) {
      const chunk = readAt(fd, Math.min(CHUNK, end - position), position);
      if (chunk.length === 0) break;
      position += chunk.length;
      sink(chunk);
    }
  } else {
    const inflate = createInflateRaw();
    let refused = false;
    const done = (async () => {
      for await (const chunk of inflate) sink(chunk as Buffer);
    })();
    done.catch(() => {
      refused = true;
      inflate.destroy();
    });
    while (position < end && !refused) {
      const chunk = readAt(fd, Math.min(CHUNK, end - position), position);
      if (chunk.length === 0) break;
      position += chunk.length;
      // A refused entry ends the reading side: a destroyed stream never drains, so wait on both.
      if (!inflate.write(chunk)) await Promise.race([new Promise((r) => inflate.once("drain", r)), done]);
    }
    inflate.end();
    await done;
  }
  if (written !== entry.size || crc !== entry.crc) throw new FileError("EINVAL", `${entry.name}: damaged entry (size or CRC mismatch)`);
}

/** What an extraction has created so far, to be put in place at the end or removed on failure. */
class Staging {
  private readonly dirs: string[] = [];
  private readonly temps = new Map<string, string>();
  private readonly placed: string[] = [];

  /** mkdir -p, remembering each directory it created. */
  makeDirs(path: string): void {
    const first = mkdirSync(path, { recursive: true, mode: 0o755 });
    if (!first) return;
    const chain: string[] = [];
    for (let p = path; p !== dirname(p); p = dirname(p)) {
      chain.unshift(p);
      if (p === first) break;
    }
    this.dirs.push(...chain);
  }

  /** Creates the temporary file for `target` (a hidden name beside it) and returns its fd. */
  create(target: string, perm: number): number {
    const temp = join(dirname(target), `.${basename(target)}.alpamon-${crypto.randomUUID().slice(0, 8)}`);
    const fd = openSync(temp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, perm);
    this.temps.set(temp, target);
    return fd;
  }

  /** Renames every temporary file onto its name; replaces only when asked (a link itself, never its target). */
  commit(overwrite: boolean): void {
    for (const [temp, target] of this.temps) {
      const existed = overwrite && exists(target);
      if (overwrite) renameSync(temp, target);
      else {
        try {
          renameNoReplace(temp, target);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === "EEXIST") throw new FileError("EEXIST", `${target} already exists.`);
          throw err;
        }
      }
      this.temps.delete(temp);
      if (!existed) this.placed.push(target);
    }
  }

  /** Removes the temporary files, the files placed new and the directories created (deepest first). */
  rollback(): void {
    for (const path of [...this.temps.keys(), ...this.placed]) rmSync(path, { force: true });
    for (const dir of this.dirs.reverse()) {
      try {
        rmdirSync(dir);
      } catch {
        // not empty: something else was put there meanwhile
      }
    }
  }
}

function exists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** Extracts every entry under `root`, all or nothing; returns how many files were written. */
export async function extractZip(
  fd: number,
  entries: ZipEntry[],
  root: string,
  overwrite: boolean,
  limits: UnzipLimits = DEFAULT_UNZIP_LIMITS,
): Promise<number> {
  for (const entry of entries) {
    const why = unsafeEntry(entry);
    if (why) throw new FileError("EINVAL", why);
  }
  checkDeclared(entries, limits);
  for (const entry of entries) {
    checkNoSymlinks(root, entry.name);
    if (!overwrite && !entry.isDir && exists(join(root, entry.name)))
      throw new FileError("EEXIST", `${join(root, entry.name)} already exists.`);
  }
  const staging = new Staging();
  const budget = new InflateBudget(limits);
  let files = 0;
  try {
    for (const entry of entries) {
      const target = join(root, entry.name);
      checkNoSymlinks(root, entry.name);
      if (entry.isDir) {
        staging.makeDirs(target);
        continue;
      }
      staging.makeDirs(dirname(target));
      const local = readAt(fd, 30, entry.localOffset);
      if (local.length < 30 || local.readUInt32LE(0) !== 0x04034b50) throw new FileError("EINVAL", `${entry.name}: damaged archive`);
      const dataStart = entry.localOffset + 30 + local.readUInt16LE(26) + local.readUInt16LE(28);
      const out = staging.create(target, entry.mode & 0o777 || 0o644);
      try {
        await inflateTo(fd, entry, dataStart, out, budget);
      } finally {
        closeSync(out);
      }
      files++;
    }
    staging.commit(overwrite);
    return files;
  } catch (err) {
    staging.rollback();
    throw err;
  }
}
