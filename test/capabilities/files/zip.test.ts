// The streaming zip writer and the central-directory reader on their own: a round trip through Info-ZIP,
// ZIP64 end records for more than 65,535 entries, the entries the extractor must refuse, the zip-bomb limits
// and all-or-nothing extraction.
import { afterEach, expect, test } from "bun:test";
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEFAULT_UNZIP_LIMITS, InflateBudget } from "../../../src/capabilities/files/unzip-limits.ts";
import { extractZip, readCentralDirectory, unsafeEntry, type ZipEntry } from "../../../src/capabilities/files/zip-read.ts";
import { zipStream, type ZipSource } from "../../../src/capabilities/files/zip-write.ts";
import { sh } from "./helpers.ts";
import { craftZip } from "./zip-craft.ts";

const made: string[] = [];
afterEach(() => {
  for (const f of made.splice(0)) rmSync(f, { recursive: true, force: true });
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
  const base: ZipEntry = {
    name: "a",
    method: 8,
    flags: 0,
    crc: 0,
    compressed: 0,
    size: 0,
    localOffset: 0,
    mode: 0o100644,
    isDir: false,
    isSymlink: false,
  };
  expect(unsafeEntry(base)).toBeUndefined();
  for (const name of ["../x", "a/../../x", "/etc/passwd", "C:/x", "a\\b", "a\u0000b", ""])
    expect(unsafeEntry({ ...base, name })).toBeDefined();
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

/** Writes `zip` to a temp file and extracts it into a fresh directory; returns the directory and the outcome. */
async function extractCrafted(
  zip: Buffer,
  overwrite: boolean,
  limits = DEFAULT_UNZIP_LIMITS,
  root = mkdtempSync(join(tmpdir(), "alpamon-unzip-")),
) {
  const path = `/tmp/alpamon-zip-${crypto.randomUUID()}.zip`;
  made.push(path, root);
  writeFileSync(path, zip);
  const fd = openSync(path, "r");
  try {
    const entries = readCentralDirectory(fd, limits.maxEntries)!;
    return {
      root,
      outcome: await extractZip(fd, entries, root, overwrite, limits).then(
        (n) => n,
        (err: Error) => err,
      ),
    };
  } finally {
    closeSync(fd);
  }
}

test("all or nothing: a failure at the last step removes the files placed and the directories made", async () => {
  const zip = craftZip([
    { name: "a.txt", data: Buffer.from("a") },
    { name: "d/e/b.txt", data: Buffer.from("b") },
    { name: "a.txt", data: Buffer.from("again") },
  ]);
  const { root, outcome } = await extractCrafted(zip, false);
  expect((outcome as Error).message).toBe(`${root}/a.txt already exists.`);
  expect(readdirSync(root)).toEqual([]);
});

test("with overwrite, a refused archive replaces nothing: renames happen only once every entry is complete", async () => {
  const root = mkdtempSync(join(tmpdir(), "alpamon-unzip-"));
  writeFileSync(join(root, "keep.txt"), "old");
  const zip = craftZip([
    { name: "keep.txt", data: Buffer.from("new") },
    { name: "liar.bin", data: Buffer.alloc(4 << 20), deflate: true, declaredSize: 10 },
  ]);
  const { outcome } = await extractCrafted(zip, true, DEFAULT_UNZIP_LIMITS, root);
  expect((outcome as Error).message).toBe("unzip refused: entry liar.bin expands beyond its declared size (10 bytes)");
  expect(readdirSync(root)).toEqual(["keep.txt"]);
  expect(readFileSync(join(root, "keep.txt"), "utf8")).toBe("old");
});

test("limits on declared sizes: entry count (before the entries are read), ratio above 1 MiB, total", async () => {
  const many = craftZip(Array.from({ length: 11 }, (_, i) => ({ name: `f${i}`, data: Buffer.from("x") })));
  expect(await extractCrafted(many, false, { ...DEFAULT_UNZIP_LIMITS, maxEntries: 10 }).catch((e: Error) => e.message)).toBe(
    "unzip refused: too many entries (11, limit 10)",
  );
  const zeros = craftZip([{ name: "z", data: Buffer.alloc(2 << 20), deflate: true }]);
  expect(((await extractCrafted(zeros, false)).outcome as Error).message).toMatch(
    /^unzip refused: entry z has compression ratio \d+:1 \(limit 200:1\)$/,
  );
  expect((await extractCrafted(zeros, false, { ...DEFAULT_UNZIP_LIMITS, maxRatio: 5000 })).outcome).toBe(1);
  const total = await extractCrafted(zeros, false, { maxBytes: 1 << 20, maxRatio: 5000, maxEntries: 10 });
  expect((total.outcome as Error).message).toBe("unzip refused: the archive expands to more than 1 MiB (it declares 2 MiB)");
  expect(readdirSync(total.root)).toEqual([]);
});

test("the inflate budget counts real bytes: total, ratio and declared size, whatever the directory said", () => {
  const entry = { name: "e", size: 10 << 20, compressed: 1000, isDir: false };
  const small = new InflateBudget({ maxBytes: 100, maxRatio: 200, maxEntries: 10 });
  small.take(entry, 60, 60);
  expect(() => small.take(entry, 60, 120)).toThrow("unzip refused: the archive expands to more than 100 bytes");
  const ratio = new InflateBudget(DEFAULT_UNZIP_LIMITS);
  ratio.take(entry, 1 << 20, 1 << 20);
  expect(() => ratio.take(entry, 1 << 20, 2 << 20)).toThrow("unzip refused: entry e has compression ratio 2097:1 (limit 200:1)");
  expect(() => new InflateBudget(DEFAULT_UNZIP_LIMITS).take({ ...entry, size: 5 }, 6, 6)).toThrow(
    "unzip refused: entry e expands beyond its declared size (5 bytes)",
  );
});
