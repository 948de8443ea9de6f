// Output that grows when JSON-escaped must still reach the console: 7 MB of NUL bytes (each one becomes the six
// characters \u0000 in the fin) and 7 MB of random bytes (control bytes and invalid UTF-8 mixed), run as a user
// through the real agent. The fin arrives, shortened with the truncation marker, and the agent's memory grows
// by less than 64 MB while it reads, caps, stores and sends the result (issue 16, finding 4).
import { describe, expect, test } from "bun:test";
import { useConsoleAndAgents } from "../helpers/agent.ts";
import { useTempDirs } from "../helpers/tmp.ts";
import { useTestUser } from "../helpers/users.ts";
import { mb, watchRss } from "./rss.ts";

const tempDir = useTempDirs("alpamon-finsize-");
const { consoleOf, agentFor } = useConsoleAndAgents();
const { user, isRoot } = useTestUser("afs");

const MARKER = /\n\[alpamon: output truncated, \d+ (of \d+ )?bytes omitted\]/;
const MAX_GROWTH = 64 * 1024 * 1024;
/** The result cap (8 MiB of encoded text) and room for the rest of the fin body. */
const MAX_FIN_BODY = 8 * 1024 * 1024 + 64 * 1024;

async function runAndMeasure(source: string) {
  const fake = await consoleOf();
  const agent = agentFor(fake, tempDir());
  await fake.waitForBackhaul(20_000);
  // Warm up the same path (user switch, reading, capping, the outbox) so the baseline includes its code.
  const warm = await fake.waitForFin(fake.sendCommand({ line: `head -c 100000 ${source}`, user }), 30_000);
  expect(warm.success).toBe(true);
  await Bun.sleep(500); // the scenario: the warm-up's garbage settles before the baseline is taken
  const rss = watchRss(agent.pid);
  const id = fake.sendCommand({ line: `head -c 7000000 ${source}`, user });
  await fake.waitForAck(id, 30_000);
  const fin = await fake.waitForFin(id, 60_000);
  const growth = rss.growth();
  const body = fake.requests.find((r) => r.path === `/api/events/commands/${id}/fin/`)!.body;
  console.log(
    `${source}: RSS ${mb(rss.start)} MB before, peak ${mb(rss.peak())} MB, growth ${mb(growth)} MB; fin body ${mb(body.length)} MB`,
  );
  return { fin, growth, bodyBytes: Buffer.byteLength(body), agent };
}

describe.skipIf(!isRoot)("fins of output that grows when escaped", () => {
  test("7 MB of NUL bytes: the fin arrives, truncated with the marker, and memory stays bounded", async () => {
    const { fin, growth, bodyBytes, agent } = await runAndMeasure("/dev/zero");
    expect(fin.success).toBe(true);
    expect(fin.result).toMatch(MARKER);
    expect(fin.result.startsWith("\0".repeat(1000))).toBe(true);
    expect(bodyBytes).toBeLessThanOrEqual(MAX_FIN_BODY);
    expect(agent.log).not.toMatch(/larger than the outbox size cap/);
    expect(growth).toBeLessThan(MAX_GROWTH);
  }, 120_000);

  test("7 MB of random bytes: the fin arrives, truncated with the marker, and memory stays bounded", async () => {
    const { fin, growth, bodyBytes } = await runAndMeasure("/dev/urandom");
    expect(fin.success).toBe(true);
    expect(fin.result).toMatch(MARKER);
    expect(bodyBytes).toBeLessThanOrEqual(MAX_FIN_BODY);
    expect(growth).toBeLessThan(MAX_GROWTH);
  }, 120_000);
});
