// `download` with allow_unzip refuses zip bombs: too high a compression ratio, more bytes than the total
// limit, more entries than the entry limit, and an entry that inflates past the size the archive declares.
// A refusal leaves nothing behind (no extracted file, no temp file). Limits come from the config's [files]
// section and reach the worker. Through the real agent, as a throwaway user, archives served on loopback.
import { describe, expect, test } from "bun:test";
import { mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { FakeConsole } from "../console/fake-console.ts";
import { craftZip, type CraftEntry } from "../capabilities/files/zip-craft.ts";
import { useConsoleAndAgents } from "../helpers/agent.ts";
import { useTempDirs } from "../helpers/tmp.ts";
import { useTestUser } from "../helpers/users.ts";

const tempDir = useTempDirs("alpamon-unzip-");
const { consoleOf, agentFor, cleanup } = useConsoleAndAgents();
const { user: USER, isRoot } = useTestUser("alpuz");
const MiB = 1 << 20;

/** Serves archives from memory on loopback; returns the URL of each. */
function archiveServer(archives: Record<string, Buffer>): (name: string) => string {
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: (req) => {
      const body = archives[new URL(req.url).pathname.slice(1)];
      return body ? new Response(body) : new Response("not found", { status: 404 });
    },
  });
  cleanup(() => server.stop(true));
  return (name) => `http://127.0.0.1:${server.port}/${name}`;
}

async function agentWith(extraConfig = ""): Promise<FakeConsole> {
  const fake = await consoleOf();
  agentFor(fake, tempDir(), { extraConfig });
  await fake.waitForBackhaul(30_000);
  return fake;
}

let dirs = 0;
/** Downloads the archive at `url` with allow_unzip into a fresh, empty directory of the user's. */
async function unzipInto(fake: FakeConsole, url: string): Promise<{ success: boolean; result: string; dir: string }> {
  const dir = `/home/${USER}/unzip-${++dirs}`;
  mkdirSync(dir);
  Bun.spawnSync(["chown", `${USER}:${USER}`, dir]);
  const path = join(dir, "archive.zip");
  const id = fake.sendCommand({
    shell: "internal",
    line: `download ${path}`,
    data: { type: "url", content: url, path, username: USER, groupname: USER, allow_unzip: true },
  });
  const fin = await fake.waitForFin(id, 60_000);
  return { success: fin.success, result: fin.result, dir };
}

const text = (name: string, body: string): CraftEntry => ({ name, data: Buffer.from(body) });

describe("unzip limits through the agent", () => {
  test.skipIf(!isRoot)(
    "defaults: a zip bomb and an entry lying about its size are refused, nothing is left; a normal archive extracts",
    async () => {
      const url = archiveServer({
        "bomb.zip": craftZip([text("readme.txt", "hi\n"), { name: "bomb.bin", data: Buffer.alloc(64 * MiB), deflate: true }]),
        "liar.zip": craftZip([
          text("first.txt", "first\n"),
          { name: "liar.bin", data: Buffer.alloc(8 * MiB), deflate: true, declaredSize: 1000 },
        ]),
        "good.zip": craftZip([
          { name: "pkg/", data: new Uint8Array() },
          text("pkg/a.txt", "a\n"),
          { name: "pkg/zeros", data: Buffer.alloc(MiB), deflate: true },
        ]),
      });
      const fake = await agentWith();

      const bomb = await unzipInto(fake, url("bomb.zip"));
      expect(bomb.success).toBe(false);
      expect(bomb.result).toMatch(/^unzip refused: entry bomb\.bin has compression ratio \d+:1 \(limit 200:1\)$/);
      expect(readdirSync(bomb.dir)).toEqual([]);

      const liar = await unzipInto(fake, url("liar.zip"));
      expect(liar.success).toBe(false);
      expect(liar.result).toBe("unzip refused: entry liar.bin expands beyond its declared size (1000 bytes)");
      expect(readdirSync(liar.dir)).toEqual([]);

      // A 1 MiB entry of zeros (ratio about 1000:1) is below the size where the ratio counts.
      const good = await unzipInto(fake, url("good.zip"));
      expect(good).toMatchObject({ success: true });
      expect(readFileSync(join(good.dir, "pkg/a.txt"), "utf8")).toBe("a\n");
      expect(readdirSync(good.dir).sort()).toEqual(["pkg"]);
    },
  );

  test.skipIf(!isRoot)("[files] limits reach the worker: too many entries and too many bytes are refused, nothing is left", async () => {
    const many = (n: number) => Array.from({ length: n }, (_, i) => text(`f${i}.txt`, `${i}\n`));
    const url = archiveServer({
      "101.zip": craftZip(many(101)),
      "100.zip": craftZip(many(100)),
      "big.zip": craftZip([
        { name: "a.bin", data: Buffer.alloc(600 * 1024, 7) },
        { name: "b.bin", data: Buffer.alloc(600 * 1024, 9) },
      ]),
    });
    const fake = await agentWith("[files]\nunzip_max_bytes = 1M\nunzip_max_entries = 100\n");

    const tooMany = await unzipInto(fake, url("101.zip"));
    expect(tooMany).toMatchObject({ success: false, result: "unzip refused: too many entries (101, limit 100)" });
    expect(readdirSync(tooMany.dir)).toEqual([]);

    const big = await unzipInto(fake, url("big.zip"));
    expect(big.success).toBe(false);
    expect(big.result).toBe("unzip refused: the archive expands to more than 1 MiB (it declares 1.2 MiB)");
    expect(readdirSync(big.dir)).toEqual([]);

    const fits = await unzipInto(fake, url("100.zip"));
    expect(fits.success).toBe(true);
    expect(readdirSync(fits.dir).length).toBe(100);
  });
});
