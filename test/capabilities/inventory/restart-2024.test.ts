// The real agent against the fake 2024 console, twice on the same state directory: what the first run learned
// the console lacks (the sync-check, the server PATCH, the sync GETs, the numeric commit load) is remembered in
// the state database for this console URL, so the second run sends none of those requests and warns about none.
import { expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { RecordedRequest } from "../../console/fake-console.ts";
import { useConsoleAndAgents } from "../../helpers/agent.ts";

const { consoleOf, agentFor, cleanup } = useConsoleAndAgents();
const line = (r: RecordedRequest) => `${r.method} ${r.path}`;
const inventoryPath = (path: string) => path.startsWith("/api/proc/") || path.startsWith("/api/servers/servers/-/sync");
const WAIT_MS = 30_000;

test("a restart against the 2024 console sends nothing the previous run learned is 404, and warns about none of it", async () => {
  const dir = mkdtempSync(join(tmpdir(), "alpamon-restart-2024-"));
  cleanup(() => rmSync(dir, { recursive: true, force: true }));
  const fake = await consoleOf({ dialect: "2024", commissioned: true });
  const serverPatch = (from: number) => fake.requests.slice(from).some((r) => line(r) === "PATCH /api/servers/servers/-/sync/" && r.status);
  const commitDone = (from: number) => fake.requests.slice(from).some((r) => r.method === "PUT" && r.status === 200);

  const first = agentFor(fake, join(dir, "agent"), { debug: true });
  await first.waitForLog(/inventory sync done/, WAIT_MS);
  await fake.waitUntil(() => serverPatch(0) && commitDone(0), WAIT_MS, "the server PATCH and the commit of the first run");
  expect(await first.stop("SIGTERM")).toBe(0);
  const learned = new Set(fake.requests.filter((r) => r.status === 404 && inventoryPath(r.path)).map(line));
  expect([...learned]).toEqual(
    expect.arrayContaining(["POST /api/servers/servers/-/sync-check/", "PATCH /api/servers/servers/-/sync/", "GET /api/proc/users/sync/"]),
  );
  expect(fake.requests.some((r) => r.method === "PUT" && r.status === 400)).toBe(true); // the numeric load, once
  expect(first.log).toMatch(/INFO.*the console has no sync-check/);

  const from = fake.requests.length;
  const second = agentFor(fake, join(dir, "agent"), { debug: true });
  await second.waitForLog(/inventory sync done/, WAIT_MS);
  await fake.waitUntil(() => commitDone(from), WAIT_MS, "the commit of the second run");
  const again = fake.requests.slice(from);
  expect(again.map(line).filter((l) => learned.has(l))).toEqual([]);
  expect(again.filter((r) => r.method === "PUT").map((r) => r.status)).toEqual(again.filter((r) => r.method === "PUT").map(() => 200));
  const warnings = second.log.split("\n").filter((l) => /WARN/.test(l) && /sync|proc|commit|404/.test(l));
  expect(warnings).toEqual([]);
  expect(second.log).toMatch(/what this console lacks is remembered/);
  await second.stop("SIGTERM");
});
