// End to end: the real agent process with the metrics collector wired in, against the fake console with
// 1-second intervals: config fetched after the session, realtime bodies arrive, `restart collector` re-fetches.
import { afterEach, describe, expect, test } from "bun:test";
import { FakeConsole } from "../../console/fake-console.ts";
import { startAgent } from "../../helpers/agent.ts";
import { useTempDirs } from "../../helpers/tmp.ts";

const tempDir = useTempDirs("alpamon-agent-metrics-");
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => {});
});

describe("agent with metrics", () => {
  test("realtime checks reach their endpoints with sane bodies; restart collector re-fetches the config", async () => {
    const fake = await FakeConsole.start();
    cleanups.push(() => fake.stop());
    const config = [
      { type: "cpu", interval: 1 },
      { type: "memory", interval: 1 },
      { type: "disk-usage", interval: 1 },
      { type: "disk-io-collector", interval: 1 },
      { type: "disk-io", interval: 2 },
      { type: "net-collector", interval: 1 },
      { type: "net", interval: 2 },
      { type: "status", interval: 1 },
      { type: "alert", interval: 2 },
      { type: "no-such-check", interval: 1 },
    ];
    fake.route("GET", "/api/metrics/config/", () => ({ status: 200, body: config }));
    fake.route("POST", /^\/api\/metrics\//, () => ({ status: 201, body: {} }));
    fake.route("PATCH", "/api/servers/servers/-/status/", () => ({ status: 200, body: {} }));
    const agent = startAgent(fake, tempDir());
    cleanups.push(() => agent.stop());

    const endpoints = [
      "realtime/cpu",
      "realtime/memory",
      "realtime/disk-usage",
      "realtime/disk-io",
      "realtime/traffic",
      "alert-rules/check",
    ].map((p) => `/api/metrics/${p}/`);
    await fake.waitUntil(
      () =>
        endpoints.every((p) => fake.requests.some((r) => r.path === p && r.status === 201)) &&
        fake.requests.some((r) => r.method === "PATCH" && r.path === "/api/servers/servers/-/status/" && r.status === 200),
      30_000,
      "every realtime endpoint",
    );
    const cpu = fake.requests.find((r) => r.path === "/api/metrics/realtime/cpu/")!.json as { timestamp: string; usage: number }[];
    expect(cpu).toHaveLength(1);
    expect(cpu[0]!.usage).toBeGreaterThanOrEqual(0);
    expect(cpu[0]!.usage).toBeLessThanOrEqual(100);
    expect(Date.parse(cpu[0]!.timestamp)).toBeGreaterThan(Date.now() - 60_000);
    const memory = fake.requests.find((r) => r.path === "/api/metrics/realtime/memory/")!.json as { usage: number }[];
    expect(memory[0]!.usage).toBeGreaterThan(0);
    expect(agent.log).toContain("no-such-check");

    const configFetches = () => fake.requests.filter((r) => r.path === "/api/metrics/config/").length;
    const before = configFetches();
    const id = fake.sendCommand({ shell: "internal", line: "restart collector" });
    expect(await fake.waitForFin(id, 10_000)).toMatchObject({ success: true });
    await fake.waitUntil(() => configFetches() > before, 10_000, "a new config fetch");
    const id2 = fake.sendCommand({ shell: "internal", line: "restart", data: { target: "collector" } });
    expect(await fake.waitForFin(id2, 10_000)).toMatchObject({ success: true });
    await fake.waitUntil(() => configFetches() > before + 1, 10_000, "another config fetch");
  }, 60_000);
});
