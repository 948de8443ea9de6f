// Safe zip extraction for downloads: reads the central directory of an archive on disk, refuses the whole
// archive before writing anything if one entry would escape the target directory (absolute names, "..",
// backslashes, NUL), is a symlink, is encrypted or uses an unknown method, and then inflates entry by entry
// with bounded memory, never following a symlink in the destination and never replacing unless asked.
import { closeSync, constants as fsc, fstatSync, lstatSync, mkdirSync, openSync, readSync, renameSync, rmSync, writeSync } from "node:fs";
import { dirname, join } from "node:path";
import { FileError } from "./errors.ts";

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

/** The archive's entries, or undefined when the file is not a zip archive. */
export function readCentralDirectory(fd: number): ZipEntry[] | undefined {
  const size = fstatSync(fd).size;
  if (size < 22 || readAt(fd, 4, 0).readUInt32LE(0) !== 0x04034b50) return undefined;
  const tailStart = Math.max(0, size - 65_557);
  const tail = readAt(fd, size - tailStart, tailStart);
  let eocd = -1;
  for (let i = tail.length - 22; i >= 0; i--) if (tail.readUInt32LE(i) === 0x06054b50) { eocd = i; break; }
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
      const take = () => (q + 8 <= extra.length ? Number(extra.readBigUInt64LE((q += 8) - 8)) : 0);
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

async function inflateTo(fd: number, entry: ZipEntry, dataStart: number, out: number): Promise<void> {
  // Loaded on first use, not at start: an agent that never zips need not load node:zlib (BENCHMARKS.md, issue 11).
  const { createInflateRaw, crc32 } = await import("node:zlib");
  let crc = 0;
  let written = 0;
  const sink = (chunk: Buffer) => {
    written += chunk.length;
    if (written > entry.size) throw new FileError("EINVAL", `${entry.name}: larger than the archive says`);
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
    const done = (async () => {
      for await (const chunk of inflate) sink(chunk as Buffer);
    })();
    while (position < end) {
      const chunk = readAt(fd, Math.min(CHUNK, end - position), position);
      if (chunk.length === 0) break;
      position += chunk.length;
      if (!inflate.write(chunk)) await new Promise((r) => inflate.once("drain", r));
    }
    inflate.end();
    await done;
  }
  if (written !== entry.size || crc !== entry.crc) throw new FileError("EINVAL", `${entry.name}: damaged entry (size or CRC mismatch)`);
}

/** Extracts every entry under `root`; returns how many files were written. */
export async function extractZip(fd: number, entries: ZipEntry[], root: string, overwrite: boolean): Promise<number> {
  for (const entry of entries) {
    const why = unsafeEntry(entry);
    if (why) throw new FileError("EINVAL", why);
    checkNoSymlinks(root, entry.name);
    if (!overwrite && !entry.isDir) {
      try {
        lstatSync(join(root, entry.name));
        throw new FileError("EEXIST", `${join(root, entry.name)} already exists.`);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
      }
    }
  }
  let files = 0;
  for (const entry of entries) {
    const target = join(root, entry.name);
    checkNoSymlinks(root, entry.name);
    if (entry.isDir) {
      mkdirSync(target, { recursive: true, mode: 0o755 });
      continue;
    }
    mkdirSync(dirname(target), { recursive: true, mode: 0o755 });
    const local = readAt(fd, 30, entry.localOffset);
    if (local.length < 30 || local.readUInt32LE(0) !== 0x04034b50) throw new FileError("EINVAL", `${entry.name}: damaged archive`);
    const dataStart = entry.localOffset + 30 + local.readUInt16LE(26) + local.readUInt16LE(28);
    const temp = overwrite ? `${target}.alpamon-${crypto.randomUUID().slice(0, 8)}` : target;
    const perm = entry.mode & 0o777 || 0o644;
    const out = openSync(temp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, perm);
    try {
      await inflateTo(fd, entry, dataStart, out);
    } catch (err) {
      closeSync(out);
      rmSync(temp, { force: true });
      throw err;
    }
    closeSync(out);
    if (overwrite) renameSync(temp, target); // replaces a file or a link itself, never a link's target
    files++;
  }
  return files;
}
