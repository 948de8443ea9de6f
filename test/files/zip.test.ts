// The streaming zip writer and the central-directory reader on their own: a round trip through Info-ZIP,
// ZIP64 end records for more than 65,535 entries, and the entries the extractor must refuse.
import { afterEach, expect, test } from "bun:test";
import { closeSync, openSync, rmSync, writeFileSync } from "node:fs";
import { readCentralDirectory, unsafeEntry, type ZipEntry } from "../../src/files/zip-read.ts";
import { zipStream, type ZipSource } from "../../src/files/zip-write.ts";
import { sh } from "./helpers.ts";

const made: string[] = [];
afterEach(() => {
  for (const f of made.splice(0)) rmSync(f, { force: true });
});

async function build(sources: ZipSource[]): Promise<string> {
  const parts: Uint8Array[] = [];
  for await (const chunk of zipStream(sources)) parts.push(Buffer.from(chunk));
  const path = `/tmp/alpamon-zip-${crypto.randomUUID()}.zip`;
  made.push(path);
  writeFileSync(path, Buffer.concat(parts));
  return path;
}

test("deflated and stored entries round-trip through unzip and the reader", async () => {
  const text = `/tmp/alpamon-zip-src-${crypto.randomUUID()}`;
  const noise = `${text}.bin`;
  made.push(text, noise);
  writeFileSync(text, "line\n".repeat(100_000));
  writeFileSync(noise, crypto.getRandomValues(new Uint8Array(65_536)));
  const now = new Date();
  const zip = await build([
    { name: "d/", mode: 0o40755, mtime: now, size: 0 },
    { name: "d/text", path: text, mode: 0o100600, mtime: now, size: 500_000 },
    { name: "d/noise", path: noise, mode: 0o100644, mtime: now, size: 65_536 },
    { name: "ünïcode.txt", path: text, mode: 0o100644, mtime: now, size: 500_000 },
  ]);
  expect(sh(["unzip", "-t", zip]).code).toBe(0);
  expect(sh(["unzip", "-p", zip, "d/text"]).out).toBe("line\n".repeat(100_000));
  const fd = openSync(zip, "r");
  const entries = readCentralDirectory(fd)!;
  closeSync(fd);
  expect(entries.map((e) => [e.name, e.method, e.size, e.mode & 0o777])).toEqual([
    ["d/", 0, 0, 0o755],
    ["d/text", 8, 500_000, 0o600],
    ["d/noise", 0, 65_536, 0o644],
    ["ünïcode.txt", 8, 500_000, 0o644],
  ]);
  expect(entries[1]!.compressed).toBeLessThan(10_000);
});

test("more than 65,535 entries use the ZIP64 end records", async () => {
  const now = new Date();
  const sources = Array.from({ length: 70_000 }, (_, i) => ({ name: `d${i}/`, mode: 0o40755, mtime: now, size: 0 }));
  const zip = await build(sources);
  const fd = openSync(zip, "r");
  expect(readCentralDirectory(fd)!.length).toBe(70_000);
  closeSync(fd);
  expect(sh(["unzip", "-t", zip]).code).toBe(0);
}, 60_000);

test("names that escape, links, encryption and unknown methods are refused; not-a-zip is recognised", () => {
  const base: ZipEntry = { name: "a", method: 8, flags: 0, crc: 0, compressed: 0, size: 0, localOffset: 0, mode: 0o100644, isDir: false, isSymlink: false };
  expect(unsafeEntry(base)).toBeUndefined();
  for (const name of ["../x", "a/../../x", "/etc/passwd", "C:/x", "a\\b", "a\u0000b", ""]) expect(unsafeEntry({ ...base, name })).toBeDefined();
  expect(unsafeEntry({ ...base, name: "..foo/bar" })).toBeUndefined();
  expect(unsafeEntry({ ...base, isSymlink: true })).toContain("symbolic");
  expect(unsafeEntry({ ...base, flags: 1 })).toContain("encrypted");
  expect(unsafeEntry({ ...base, method: 99 })).toContain("method");
  const plain = `/tmp/alpamon-zip-${crypto.randomUUID()}.txt`;
  made.push(plain);
  writeFileSync(plain, "PK but not really a zip archive at all, just text");
  const fd = openSync(plain, "r");
  expect(readCentralDirectory(fd)).toBeUndefined();
  closeSync(fd);
});
