// The queue of commands waiting for a slot is bounded (issue 16, finding 9): 5000 command frames sent at once
// to the real agent while every slot is busy. Beyond the bound each command is acked and refused with a clear
// fin instead of being queued, the agent's memory grows by less than 64 MB, and every acked command gets a fin.
import { describe, expect, test } from "bun:test";
import { chmodSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { MAX_WAITING_COMMANDS, TOO_MANY_WAITING } from "../../src/commands/dispatcher.ts";
import type { FakeConsole } from "../console/fake-console.ts";
import { useConsoleAndAgents } from "../helpers/agent.ts";
import { useTempDirs } from "../helpers/tmp.ts";
import { useTestUser } from "../helpers/users.ts";
import { mb, watchRss } from "./rss.ts";

const tempDir = useTempDirs("alpamon-queue-");
const { consoleOf, agentFor } = useConsoleAndAgents();
const { user, isRoot } = useTestUser("aqu");

const COMMANDS = 5000;
/** The dispatcher's default concurrency: this many run, the bound waits, the rest are refused. */
const RUNNING = 16;
const REFUSAL = TOO_MANY_WAITING;
const MAX_GROWTH = 64 * 1024 * 1024;

/** Acks and fins the console accepted, by command id, indexed as requests arrive (10 000 of them). */
function indexCommands(fake: FakeConsole, ids: ReadonlySet<string>): () => { acked: Set<string>; fins: Map<string, unknown> } {
  const acked = new Set<string>();
  const fins = new Map<string, unknown>();
  let next = 0;
  return () => {
    for (; next < fake.requests.length; next++) {
      const r = fake.requests[next]!;
      if (r.status === undefined) break; // not answered yet: look again next time
      const m = /^\/api\/events\/commands\/([^/]+)\/(ack|fin)\/$/.exec(r.path);
      if (!m || r.status !== 200 || !ids.has(m[1]!)) continue;
      if (m[2] === "ack") acked.add(m[1]!);
      else fins.set(m[1]!, r.json);
    }
    return { acked, fins };
  };
}

describe.skipIf(!isRoot)("waiting commands", () => {
  test("5000 commands while every slot is busy: clear refusals beyond the bound, bounded memory, a fin for each", async () => {
    const fake = await consoleOf();
    const dir = tempDir();
    chmodSync(dir, 0o755);
    const gate = join(dir, "go");
    const agent = agentFor(fake, join(dir, "agent"));
    await fake.waitForBackhaul(20_000);
    const warm = await fake.waitForFin(fake.sendCommand({ line: "true", user }), 30_000);
    expect(warm.success).toBe(true);
    await Bun.sleep(500); // the scenario: the warm-up's garbage settles before the baseline is taken

    const rss = watchRss(agent.pid);
    const ids: string[] = [];
    for (let i = 0; i < COMMANDS; i++) {
      const id = crypto.randomUUID();
      ids.push(id);
      const line = `while [ ! -e ${gate} ]; do sleep 0.2; done; echo done ${i}`;
      fake.sendFrame({ query: "command", command: { id, shell: "system", line, user, group: "", allow_sh: true } });
    }
    const seen = indexCommands(fake, new Set(ids));
    await fake.waitUntil(() => seen().acked.size === COMMANDS, 120_000, "every ack");
    const growth = rss.growth();
    console.log(`5000 commands: RSS ${mb(rss.start)} MB before, peak ${mb(rss.peak())} MB, growth ${mb(growth)} MB`);
    await fake.waitUntil(() => seen().fins.size >= COMMANDS - RUNNING - MAX_WAITING_COMMANDS, 30_000, "the refusals");

    const refused = [...seen().fins.keys()];
    expect(refused.length).toBe(COMMANDS - RUNNING - MAX_WAITING_COMMANDS);
    for (const id of refused) expect(seen().fins.get(id)).toMatchObject({ success: false, result: REFUSAL });
    expect(growth).toBeLessThan(MAX_GROWTH);

    writeFileSync(gate, "");
    await fake.waitUntil(() => seen().fins.size === COMMANDS, 180_000, "a fin for every command");
    const refusedSet = new Set(refused);
    const ran = ids.filter((id) => !refusedSet.has(id)).map((id) => seen().fins.get(id));
    expect(ran).toHaveLength(RUNNING + MAX_WAITING_COMMANDS);
    for (const fin of ran) expect(fin).toMatchObject({ success: true, result: expect.stringMatching(/^done \d+\n$/) });
    expect(agent.proc.exitCode).toBeNull();
  }, 400_000);
});
