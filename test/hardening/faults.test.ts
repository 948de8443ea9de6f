// Console faults against the real agent: 500s, slow answers, TLS failures, a socket that never answers and
// an unresolvable name. The agent degrades, logs each streak once at warn/error (not once per retry), and
// recovers on its own when the fault clears (or, for configuration faults, once the config is fixed).
import { describe, expect, test } from "bun:test";
import type { Socket, TCPSocketListener } from "bun";
import { BACKHAUL_PATH, type FakeConsole } from "../console/fake-console.ts";
import { type RunningAgent, useConsoleAndAgents } from "../helpers/agent.ts";
import { useTempDirs } from "../helpers/tmp.ts";

const tempDir = useTempDirs("alpamon-faults-");
const { consoleOf, agentFor, cleanup } = useConsoleAndAgents();

/** The same console identity at another URL (a dead or unresolvable one). */
const elsewhere = (fake: FakeConsole, url: string) =>
  ({ url, id: fake.id, key: fake.key, caCertPath: undefined }) as unknown as FakeConsole;

const alarms = (log: string) => log.split("\n").filter((l) => /\[(WARN|ERROR)\]/.test(l));

/**
 * Waits until the session check has failed `n` more times with the same problem after the first failure (the
 * agent runs with debug = true, which logs each repeat at DEBUG): the retries a test needs to see, without
 * guessing their timing (full jitter on a 5 s base).
 */
async function sessionRetries(agent: RunningAgent, n: number, timeoutMs = 60_000): Promise<void> {
  await agent.waitForLog(new RegExp(`(session check failed again[\\s\\S]*){${n}}`), timeoutMs);
}

async function pingWorks(fake: FakeConsole, timeoutMs = 60_000): Promise<void> {
  await fake.waitForBackhaul(timeoutMs);
  const fin = await fake.waitForFin(fake.sendCommand({ shell: "internal", line: "ping" }), timeoutMs);
  expect(fin.success).toBe(true);
}

describe("console faults", () => {
  test("backhaul handshakes answered 500 for a while: one warning for the streak, then it reconnects", async () => {
    const fake = await consoleOf();
    const agent = agentFor(fake, tempDir());
    await fake.waitForBackhaul(15_000);
    const mark = agent.log.length;
    const fault = fake.fault({ path: BACKHAUL_PATH }, { status: 500 });
    fake.dropBackhaul();
    await fake.waitUntil(() => fake.handshakes.filter((h) => h.refused === "fault").length >= 2, 60_000, "two refused handshakes");
    const during = alarms(agent.log.slice(mark));
    fault.clear();
    await pingWorks(fake);
    expect(agent.proc.exitCode).toBeNull();
    // The drop itself may be one line; each failed retry must not add one.
    expect(during.length, during.join("\n")).toBeLessThanOrEqual(2);
  }, 120_000);

  test("session check answered 500 at start: one warning, then the agent comes up by itself", async () => {
    const fake = await consoleOf();
    const fault = fake.fault({ method: "GET", path: "/api/servers/servers/-/" }, { status: 500 });
    const agent = agentFor(fake, tempDir());
    await fake.waitUntil(
      () => fake.requests.filter((r) => r.path === "/api/servers/servers/-/" && r.status === 500).length >= 3,
      60_000,
      "three failed session checks",
    );
    const during = alarms(agent.log);
    fault.clear();
    await pingWorks(fake);
    expect(during.length, during.join("\n")).toBe(1);
  }, 120_000);

  test("slow answers (3 s per request) delay but never break command delivery", async () => {
    const fake = await consoleOf();
    const agent = agentFor(fake, tempDir());
    await fake.waitForBackhaul(15_000);
    const mark = agent.log.length;
    const fault = fake.fault({ path: /^\/api\// }, { delayMs: 3_000, forMs: 12_000 });
    const ids = [1, 2, 3].map(() => fake.sendCommand({ shell: "internal", line: "ping" }));
    for (const id of ids) expect((await fake.waitForFin(id, 60_000)).success).toBe(true);
    fault.clear();
    expect(alarms(agent.log.slice(mark))).toEqual([]);
  }, 90_000);

  test("TLS handshake failure (the agent lacks the CA): one error line, then the fixed config connects", async () => {
    const fake = await consoleOf({ tls: true });
    const dir = tempDir();
    const bad = agentFor(fake, dir, { useCa: false, debug: true });
    await bad.waitForLog(/\[(WARN|ERROR)\]/, 30_000);
    await sessionRetries(bad, 2);
    const during = alarms(bad.log);
    expect(fake.backhaulCount()).toBe(0);
    await bad.stop();
    agentFor(fake, dir);
    await pingWorks(fake);
    expect(during.length, during.join("\n")).toBe(1);
  }, 90_000);

  test("a console that accepts and never answers: the agent keeps trying without a line per retry", async () => {
    const fake = await consoleOf();
    const held: Socket<undefined>[] = [];
    const silent: TCPSocketListener<undefined> = Bun.listen<undefined>({
      hostname: "127.0.0.1",
      port: 0,
      socket: { open: (s) => void held.push(s), data: () => {} },
    });
    cleanup(() => {
      for (const s of held) s.end();
      silent.stop(true);
    });
    const dir = tempDir();
    const agent = agentFor(elsewhere(fake, `http://127.0.0.1:${silent.port}`), dir, { debug: true });
    await agent.waitForLog(/\[(WARN|ERROR)\]/, 30_000);
    await sessionRetries(agent, 1); // each attempt times out after 10 s
    const during = alarms(agent.log);
    expect(held.length).toBeGreaterThanOrEqual(2);
    expect(agent.proc.exitCode).toBeNull();
    expect(during.length, during.join("\n")).toBe(1);
    await agent.stop();
    agentFor(fake, dir);
    await pingWorks(fake);
  }, 120_000);

  test("DNS failure (an unresolvable console name): one line for the streak, the agent stays up", async () => {
    const fake = await consoleOf();
    const dir = tempDir();
    const agent = agentFor(elsewhere(fake, "http://alpamon-test.invalid"), dir, { debug: true });
    await agent.waitForLog(/\[(WARN|ERROR)\]/, 30_000);
    await sessionRetries(agent, 2);
    const during = alarms(agent.log);
    expect(agent.proc.exitCode).toBeNull();
    expect(during.length, during.join("\n")).toBe(1);
    await agent.stop();
    agentFor(fake, dir);
    await pingWorks(fake);
  }, 90_000);
});
