// Streamed output of `system` commands (upstream-2026.md §2.3), end to end: the real agent process against the
// fake console in each dialect. A 2026 console gets chunks {seq, content} that reassemble to exactly the output
// and a fin with the audit copy; a 2024/2025 console answers 404 to the first chunk, streaming is off from then
// on (remembered across a restart) and the fin carries the output.
import { describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { FakeConsole } from "../../console/fake-console.ts";
import { useConsoleAndAgents, type AgentOptions } from "../../helpers/agent.ts";
import { useTempDirs } from "../../helpers/tmp.ts";

const tempDir = useTempDirs("alpamon-stream-");
const { consoleOf, agentFor } = useConsoleAndAgents();
const BUN = process.execPath;
const CHUNK_PATH = /^\/api\/events\/commands\/[^/]+\/chunk\/$/;

/**
 * A generator printing about `mb` MB, alternating stdout and stderr in blocks of odd sizes full of 2-, 3- and
 * 4-byte characters, so sequences straddle every 4096-byte boundary sooner or later.
 */
function writeGenerator(dir: string): string {
  const path = join(dir, "gen.js");
  writeFileSync(
    path,
    `const { writeSync } = require("node:fs");
const mb = Number(process.argv[2] ?? "1");
let total = 0;
let i = 0;
while (total < mb * 1000 * 1000) {
  const piece = "line " + i + " é€😀 ".repeat(1 + (i % 97)) + "ascii".repeat(i % 5) + "\\n";
  const block = Buffer.from(piece.repeat(1 + (i % 13)));
  let off = 0;
  while (off < block.length) off += writeSync(i % 3 === 0 ? 2 : 1, block, off);
  total += block.length;
  i++;
}
`,
  );
  return path;
}

/** The generator's output as a plain run gives it (stdout and stderr into one file, in write order). */
async function directOutput(gen: string, mb: string, dir: string): Promise<string> {
  const out = join(dir, `direct-${mb}.txt`);
  const proc = Bun.spawn(["/bin/sh", "-c", `"$0" "$1" "$2" >"$3" 2>&1`, BUN, gen, mb, out], { stdout: "ignore", stderr: "inherit" });
  expect(await proc.exited).toBe(0);
  return readFileSync(out, "utf8");
}

async function consoleAndAgent(dialect: "2024" | "2025" | "2026", agentOptions: AgentOptions = {}, dir = tempDir()) {
  const fake = await consoleOf({ dialect });
  const agent = agentFor(fake, dir, agentOptions);
  await fake.waitForBackhaul(15_000);
  return { fake, agent, dir };
}

async function waitFor(what: string, ready: () => boolean, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ready()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await Bun.sleep(50);
  }
}

const chunkRequests = (fake: FakeConsole, id?: string) =>
  fake.requests.filter((r) => CHUNK_PATH.test(r.path) && (id === undefined || r.path.includes(`/${id}/`)));

describe("streamed output (2026 console)", () => {
  test("10 MB of mixed stdout/stderr in multi-byte UTF-8 over two segments: chunks reassemble exactly; the fin is the audit copy", async () => {
    const { fake, dir } = await consoleAndAgent("2026");
    const gen = writeGenerator(dir);
    const one = await directOutput(gen, "5", dir);
    const expected = one + one;
    expect(Buffer.byteLength(expected)).toBeGreaterThan(10_000_000);

    // Operator mode: two processes, one seq series.
    const id = fake.sendCommand({ shell: "system", line: `${BUN} ${gen} 5 && ${BUN} ${gen} 5`, user: "root" });
    const fin = await fake.waitForFin(id, 120_000);
    expect(fin.success).toBe(true);
    const expectedBytes = Buffer.byteLength(expected);
    const streamedBytes = () => fake.chunks(id).reduce((n, c) => n + Buffer.byteLength(c.content), 0);
    await waitFor("every chunk", () => streamedBytes() >= expectedBytes);

    const chunks = fake.chunks(id);
    expect(chunks.map((c) => c.seq)).toEqual(chunks.map((_, i) => i));
    for (const c of chunks) {
      const bytes = Buffer.from(c.content, "utf8");
      expect(bytes.length).toBeLessThanOrEqual(4096);
      expect(bytes.toString("utf8")).toBe(c.content); // no lone surrogate: valid UTF-8
    }
    const content = chunks.map((c) => c.content).join("");
    expect(content.length).toBe(expected.length);
    expect(content === expected).toBe(true);
    // Most chunks are cut at 4096 bytes, moved back only to a character boundary.
    expect(chunks.filter((c) => Buffer.byteLength(c.content) >= 4093).length).toBeGreaterThan(chunks.length / 2);

    // The fin: the first and last 512 KiB, the middle replaced by the marker.
    const marker = /\n\.\.\. \[(\d+) bytes truncated\] \.\.\.\n/.exec(fin.result);
    expect(marker).not.toBeNull();
    const head = fin.result.slice(0, marker!.index);
    const tail = fin.result.slice(marker!.index + marker![0].length);
    expect(expected.startsWith(head)).toBe(true);
    expect(expected.endsWith(tail)).toBe(true);
    expect(Buffer.byteLength(head)).toBeGreaterThan(512 * 1024 - 4);
    expect(Buffer.byteLength(head)).toBeLessThanOrEqual(512 * 1024);
    expect(Buffer.byteLength(tail)).toBeGreaterThan(512 * 1024 - 4);
    expect(Buffer.byteLength(tail)).toBeLessThanOrEqual(512 * 1024);
    expect(Buffer.byteLength(head) + Number(marker![1]) + Buffer.byteLength(tail)).toBe(expectedBytes);

    // Every chunk went after the command's ack.
    const ackAt = fake.requests.findIndex((r) => r.path === `/api/events/commands/${id}/ack/`);
    const firstChunkAt = fake.requests.findIndex((r) => r.path === `/api/events/commands/${id}/chunk/`);
    expect(ackAt).toBeGreaterThanOrEqual(0);
    expect(firstChunkAt).toBeGreaterThan(ackAt);
  }, 240_000);

  test("a short command: its chunks and a fin that carries the output once the console took chunks", async () => {
    const { fake } = await consoleAndAgent("2026");
    const first = fake.sendCommand({ shell: "system", line: "echo one", user: "root" });
    await fake.waitForFin(first);
    await waitFor("the first chunk", () => fake.chunks(first).length > 0);
    expect(fake.chunks(first)).toEqual([{ seq: 0, content: "one\n" }]);
    const second = fake.sendCommand({ shell: "system", line: "echo two; echo three", user: "root" });
    expect((await fake.waitForFin(second)).result).toBe("two\nthree\n");
    await waitFor(
      "the chunks",
      () =>
        fake
          .chunks(second)
          .map((c) => c.content)
          .join("") === "two\nthree\n",
    );
    expect(fake.chunks(second).map((c) => c.seq)).toEqual(fake.chunks(second).map((_, i) => i));
  }, 60_000);
});

describe.each(["2024", "2025"] as const)("streamed output (%s console)", (dialect) => {
  test("404 on the first chunk: streaming off, remembered across a restart; the fin carries the output", async () => {
    const { fake, agent, dir } = await consoleAndAgent(dialect);
    const first = fake.sendCommand({ shell: "system", line: "echo hello", user: "root" });
    expect(await fake.waitForFin(first)).toMatchObject({ success: true, result: "hello\n" });
    await waitFor("the refused chunk", () => chunkRequests(fake, first).some((r) => r.status === 404));
    await agent.waitForLog(/using the older form from now on.*dialect=.?chunks/);
    expect(chunkRequests(fake, first).length).toBe(1);

    const second = fake.sendCommand({ shell: "system", line: "echo again", user: "root" });
    expect(await fake.waitForFin(second)).toMatchObject({ success: true, result: "again\n" });
    // A large output is not streamed either: the fin carries all of it (up to the fin cap).
    const big = fake.sendCommand({ shell: "system", line: "seq 1 200000", user: "root" });
    const bigFin = await fake.waitForFin(big, 30_000);
    expect(bigFin.result.endsWith("199999\n200000\n")).toBe(true);
    expect(bigFin.result).not.toContain("bytes truncated");
    expect(chunkRequests(fake).length).toBe(1);

    await agent.stop();
    agentFor(fake, dir);
    await waitFor("the reconnect", () => fake.backhaulCount() > 0, 15_000);
    const third = fake.sendCommand({ shell: "system", line: "echo restarted", user: "root" });
    expect(await fake.waitForFin(third, 30_000)).toMatchObject({ success: true, result: "restarted\n" });
    expect(chunkRequests(fake).length).toBe(1);
  }, 90_000);
});

describe("streamed output when the outbox is nearly full", () => {
  test("chunks are throttled, then dropped with one warning; the ack and the fin are delivered", async () => {
    // Near full at 80 % of 60 rows; the console does not take chunks for now (503), so they pile up.
    const { fake, agent } = await consoleAndAgent("2026", { extraConfig: "outbox_max_rows = 60" });
    const refuse = fake.fault({ method: "POST", path: CHUNK_PATH }, { status: 503 });
    const id = fake.sendCommand({ shell: "system", line: "seq 1 300000", user: "root" });
    const fin = await fake.waitForFin(id, 60_000);
    expect(fin.success).toBe(true);
    expect(fin.result.endsWith("299999\n300000\n")).toBe(true); // no chunk was ever accepted: the whole output
    // The output pipe was held back for the bounded wait (2 s) before chunks were dropped.
    expect(fin.elapsed_time).toBeGreaterThanOrEqual(1.9);
    expect(await fake.waitForAck(id)).toBeDefined();
    const warnings = agent.log.match(/dropping this command's streamed output/g) ?? [];
    expect(warnings.length).toBe(1);
    const sentSeqs = new Set(chunkRequests(fake, id).map((r) => (r.json as { seq: number }).seq));
    expect(sentSeqs.size).toBeLessThanOrEqual(60);

    // Once the console takes chunks again, what was queued arrives; the dropped ones never do.
    refuse.clear();
    await waitFor("the queued chunks", () => fake.chunks(id).length >= sentSeqs.size, 90_000);
    await Bun.sleep(500);
    const seqs = fake.chunks(id).map((c) => c.seq);
    expect(seqs[0]).toBe(0);
    expect(seqs.length).toBeLessThan(Buffer.byteLength(fin.result) / 4096 / 2);
  }, 150_000);
});
