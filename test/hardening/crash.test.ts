// Crash consistency: the real agent is SIGKILLed at random moments while pings and system commands flow.
// After every kill the state DB passes integrity_check, and every command the console saw acked gets its
// fin once the agent runs again. Short form: 5 kills; `bun run fuzz`: 100 kills.
import { Database } from "bun:sqlite";
import { afterEach, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { stateDbPath } from "../../src/db/open.ts";
import { FakeConsole } from "../console/fake-console.ts";
import { startAgent, type RunningAgent } from "../helpers/agent.ts";
import { useTempDirs } from "../helpers/tmp.ts";
import { LONG, Rand, SEED } from "../fuzz/rand.ts";

const tempDir = useTempDirs("alpamon-crash-");
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
});

function integrity(dir: string): string {
  const path = stateDbPath(join(dir, "state"));
  if (!existsSync(path)) return "ok";
  const db = new Database(path);
  try {
    return (db.query("PRAGMA integrity_check").all() as { integrity_check: string }[]).map((r) => r.integrity_check).join("; ");
  } finally {
    db.close();
  }
}

test(
  "SIGKILL at random moments: the DB stays intact and every acked command gets its fin",
  async () => {
    const kills = LONG ? 100 : 5;
    const r = new Rand(SEED);
    const fake = await FakeConsole.start();
    cleanups.push(() => fake.stop());
    const dir = tempDir();
    let agent: RunningAgent | undefined;
    cleanups.push(async () => agent?.stop());
    const sent: string[] = [];
    for (let k = 0; k < kills; k++) {
      const handshakes = fake.acceptedHandshakes();
      agent = startAgent(fake, dir);
      if (r.chance(0.85)) {
        await fake.waitUntil(() => fake.acceptedHandshakes() > handshakes && fake.backhaulCount() >= 1, 20_000, "the backhaul");
        for (let c = r.int(1, 6); c > 0; c--) {
          sent.push(
            fake.sendCommand(
              r.chance(0.5) ? { shell: "internal", line: "ping" } : { shell: "system", line: `echo crash-${k}-${c}`, user: "root" },
            ),
          );
          if (r.chance(0.5)) await Bun.sleep(r.int(0, 150));
        }
      }
      await Bun.sleep(r.int(0, 800));
      await agent.stop("SIGKILL");
      expect(integrity(dir), `after kill ${k + 1}`).toBe("ok");
    }
    agent = startAgent(fake, dir);
    const acked = sent.filter((id) => fake.requests.some((q) => q.path === `/api/events/commands/${id}/ack/` && q.status === 200));
    for (const id of acked) {
      const fin = await fake.waitForFin(id, 60_000);
      expect(fin.success, `command ${id}`).toBe(true);
    }
    expect(integrity(dir)).toBe("ok");
    if (!LONG) expect(acked.length).toBeGreaterThan(0);
  },
  LONG ? 3_600_000 : 120_000,
);
