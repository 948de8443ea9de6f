// Forwarded warnings against the 2024 console, which has no log history: the first run learns the 404 (the
// outbox's "logs" dialect, in the state DB for this console URL) and a restart on the same state directory
// queues no log record at all. The agent's outbox drains when it stops, so a record queued in the second run
// would reach the console before the agent exits.
import { expect, test } from "bun:test";
import { join } from "node:path";
import { useConsoleAndAgents } from "../helpers/agent.ts";
import { useTempDirs } from "../helpers/tmp.ts";

const { consoleOf, agentFor } = useConsoleAndAgents();
const tempDir = useTempDirs("alpamon-log-dialect-");
const LOGS = "/api/history/logs/";

test("a console without a log history is remembered across a restart: no record is sent to it again", async () => {
  const dir = join(tempDir(), "agent");
  const fake = await consoleOf({ dialect: "2024" });
  // An unsigned command gives one forwarded warning (signing mode monitor, the default).
  const warn = async () => {
    const id = fake.sendCommand({ line: "/bin/true", user: "root", group: "root" });
    await fake.waitForFin(id, 15_000);
  };

  const first = agentFor(fake, dir);
  await fake.waitForBackhaul(15_000);
  await warn();
  await fake.waitForRequest((r) => r.path === LOGS && r.status === 404, 15_000);
  await first.waitForLog(/console refused this form \(404\).*dialect=logs/);
  expect(await first.stop("SIGTERM")).toBe(0);

  const from = fake.requests.length;
  const second = agentFor(fake, dir);
  await fake.waitUntil(() => fake.backhaulCount() > 0 && fake.requests.length > from, 15_000, "the second run");
  await warn();
  await warn();
  await second.waitForLog(/signature check failed[^\n]*\n(.|\n)*signature check failed/);
  expect(await second.stop("SIGTERM")).toBe(0);
  expect(fake.requests.slice(from).filter((r) => r.path === LOGS)).toEqual([]);
}, 60_000);
