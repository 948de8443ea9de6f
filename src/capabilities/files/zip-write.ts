// A streaming zip writer: entries are read and compressed one chunk at a time and handed out as they are
// made (data descriptors, ZIP64 where sizes or offsets need it), so an archive of any size needs a few MB
// of memory and no temporary file. Knows nothing about users or sockets; the caller reads the files.
import { closeSync, openSync, readSync } from "node:fs";
import { local } from "../../platform/time.ts";

export interface ZipSource {
  /** The name inside the archive ("dir/" names end in "/" for directories). */
  name: string;
  /** The file to read; undefined for a directory entry. */
  path?: string;
  /** Unix mode bits (type and permissions). */
  mode: number;
  mtime: Date;
  /** Size from stat, to decide on ZIP64 before the data is read. */
  size: number;
}

const CHUNK = 1 << 20;
const MAX32 = 0xffffffff;
/** Above this stat size the local header announces ZIP64 sizes (compressed data can be a bit larger). */
const ZIP64_FROM = 0xffff0000;

interface Written {
  name: Buffer;
  method: number;
  crc: number;
  compressed: number;
  size: number;
  offset: number;
  mode: number;
  dos: { time: number; date: number };
  zip64: boolean;
}

/** A zip entry's DOS date and time: local wall-clock fields (platform/time.ts), from 1980 on. */
export function dosTime(d: Date): { time: number; date: number } {
  const { wall } = local(d.getTime());
  const year = Math.max(1980, wall.getUTCFullYear());
  return {
    time: (wall.getUTCHours() << 11) | (wall.getUTCMinutes() << 5) | Math.floor(wall.getUTCSeconds() / 2),
    date: ((year - 1980) << 9) | ((wall.getUTCMonth() + 1) << 5) | wall.getUTCDate(),
  };
}

function localHeader(w: Written): Buffer {
  const extra = w.zip64 ? Buffer.alloc(20) : Buffer.alloc(0);
  if (w.zip64) {
    extra.writeUInt16LE(0x0001, 0);
    extra.writeUInt16LE(16, 2);
  }
  const h = Buffer.alloc(30);
  h.writeUInt32LE(0x04034b50, 0);
  h.writeUInt16LE(w.zip64 ? 45 : 20, 4);
  h.writeUInt16LE(0x0808, 6); // data descriptor follows; names are UTF-8
  h.writeUInt16LE(w.method, 8);
  h.writeUInt16LE(w.dos.time, 10);
  h.writeUInt16LE(w.dos.date, 12);
  h.writeUInt32LE(w.zip64 ? MAX32 : 0, 18);
  h.writeUInt32LE(w.zip64 ? MAX32 : 0, 22);
  h.writeUInt16LE(w.name.length, 26);
  h.writeUInt16LE(extra.length, 28);
  return Buffer.concat([h, w.name, extra]);
}

function descriptor(w: Written): Buffer {
  const d = Buffer.alloc(w.zip64 ? 24 : 16);
  d.writeUInt32LE(0x08074b50, 0);
  d.writeUInt32LE(w.crc, 4);
  if (w.zip64) {
    d.writeBigUInt64LE(BigInt(w.compressed), 8);
    d.writeBigUInt64LE(BigInt(w.size), 16);
  } else {
    d.writeUInt32LE(w.compressed, 8);
    d.writeUInt32LE(w.size, 12);
  }
  return d;
}

function centralHeader(w: Written): Buffer {
  const big = [w.size, w.compressed, w.offset].map((n) => n >= MAX32);
  const fields = [w.size, w.compressed, w.offset].filter((_, i) => big[i]);
  const extra = Buffer.alloc(fields.length ? 4 + 8 * fields.length : 0);
  if (fields.length) {
    extra.writeUInt16LE(0x0001, 0);
    extra.writeUInt16LE(8 * fields.length, 2);
    fields.forEach((n, i) => {
      extra.writeBigUInt64LE(BigInt(n), 4 + 8 * i);
    });
  }
  const h = Buffer.alloc(46);
  h.writeUInt32LE(0x02014b50, 0);
  h.writeUInt16LE((3 << 8) | 45, 4); // made by Unix, so external attributes carry the mode
  h.writeUInt16LE(w.zip64 || fields.length ? 45 : 20, 6);
  h.writeUInt16LE(0x0808, 8);
  h.writeUInt16LE(w.method, 10);
  h.writeUInt16LE(w.dos.time, 12);
  h.writeUInt16LE(w.dos.date, 14);
  h.writeUInt32LE(w.crc, 16);
  h.writeUInt32LE(big[1] ? MAX32 : w.compressed, 20);
  h.writeUInt32LE(big[0] ? MAX32 : w.size, 24);
  h.writeUInt16LE(w.name.length, 28);
  h.writeUInt16LE(extra.length, 30);
  const isDir = (w.mode & 0o170000) === 0o040000;
  h.writeUInt32LE((((w.mode & 0xffff) << 16) | (isDir ? 0x10 : 0)) >>> 0, 38);
  h.writeUInt32LE(big[2] ? MAX32 : w.offset, 42);
  return Buffer.concat([h, w.name, extra]);
}

function endRecords(count: number, cdOffset: number, cdSize: number): Buffer {
  const parts: Buffer[] = [];
  const needs64 = count >= 0xffff || cdOffset >= MAX32 || cdSize >= MAX32;
  if (needs64) {
    const z = Buffer.alloc(56);
    z.writeUInt32LE(0x06064b50, 0);
    z.writeBigUInt64LE(44n, 4);
    z.writeUInt16LE((3 << 8) | 45, 12);
    z.writeUInt16LE(45, 14);
    z.writeBigUInt64LE(BigInt(count), 24);
    z.writeBigUInt64LE(BigInt(count), 32);
    z.writeBigUInt64LE(BigInt(cdSize), 40);
    z.writeBigUInt64LE(BigInt(cdOffset), 48);
    const loc = Buffer.alloc(20);
    loc.writeUInt32LE(0x07064b50, 0);
    loc.writeBigUInt64LE(BigInt(cdOffset + cdSize), 8);
    loc.writeUInt32LE(1, 16);
    parts.push(z, loc);
  }
  const e = Buffer.alloc(22);
  e.writeUInt32LE(0x06054b50, 0);
  e.writeUInt16LE(Math.min(count, 0xffff), 8);
  e.writeUInt16LE(Math.min(count, 0xffff), 10);
  e.writeUInt32LE(Math.min(cdSize, MAX32), 12);
  e.writeUInt32LE(Math.min(cdOffset, MAX32), 16);
  parts.push(e);
  return Buffer.concat(parts);
}

/** Yields the archive's bytes. A file that cannot be read throws (the caller aborts the transfer). */
export async function* zipStream(sources: Iterable<ZipSource> | AsyncIterable<ZipSource>, level = 6): AsyncGenerator<Uint8Array> {
  // Loaded on first use, not at start: an agent that never zips need not load node:zlib (BENCHMARKS.md, issue 11).
  const { constants, crc32, deflateRawSync } = await import("node:zlib");
  const written: Written[] = [];
  let offset = 0;
  const buffer = Buffer.allocUnsafe(CHUNK);
  for await (const src of sources) {
    const w: Written = {
      name: Buffer.from(src.name, "utf8"),
      method: 0,
      crc: 0,
      compressed: 0,
      size: 0,
      offset,
      mode: src.mode,
      dos: dosTime(src.mtime),
      zip64: src.size >= ZIP64_FROM,
    };
    const fd = src.path === undefined ? undefined : openSync(src.path, "r");
    try {
      let first = fd === undefined ? 0 : readSync(fd, buffer, 0, CHUNK, null);
      let chunk = buffer.subarray(0, first);
      // Compress only what shrinks: the first chunk decides (media and archives are stored as they are).
      let packed = first > 0 ? deflateRawSync(chunk, { level, finishFlush: constants.Z_SYNC_FLUSH }) : undefined;
      w.method = packed && packed.length < first * 0.95 ? 8 : 0;
      const header = localHeader(w);
      yield header;
      offset += header.length;
      while (first > 0) {
        w.crc = crc32(chunk, w.crc);
        w.size += first;
        const out = w.method === 8 ? (packed ?? deflateRawSync(chunk, { level, finishFlush: constants.Z_SYNC_FLUSH })) : Buffer.from(chunk);
        packed = undefined;
        w.compressed += out.length;
        yield out;
        first = fd === undefined ? 0 : readSync(fd, buffer, 0, CHUNK, null);
        chunk = buffer.subarray(0, first);
      }
      if (w.method === 8) {
        const end = deflateRawSync(Buffer.alloc(0), { level, finishFlush: constants.Z_FINISH });
        w.compressed += end.length;
        yield end;
      }
    } finally {
      if (fd !== undefined) closeSync(fd);
    }
    if (!w.zip64 && (w.size >= MAX32 || w.compressed >= MAX32)) throw new Error(`${src.name} grew past 4 GiB while it was read`);
    const d = descriptor(w);
    yield d;
    offset += w.compressed + d.length;
    written.push(w);
  }
  const cdOffset = offset;
  let cdSize = 0;
  for (const w of written) {
    const c = centralHeader(w);
    cdSize += c.length;
    yield c;
  }
  yield endRecords(written.length, cdOffset, cdSize);
}
