// End to end: the real agent process against the fake console over real sockets. Each test starts its own
// console and agent and stops both afterwards, even when it fails.
import { describe, expect, test } from "bun:test";
import { readFileSync, statSync } from "node:fs";
import { connect } from "node:net";
import { join } from "node:path";
import type { FakeConsole } from "./fake-console.ts";
import { useConsoleAndAgents, type AgentOptions } from "../helpers/agent.ts";
import { useTempDirs } from "../helpers/tmp.ts";

const VERSION = JSON.parse(readFileSync(join(import.meta.dir, "../../package.json"), "utf8")).version as string;
const tempDir = useTempDirs("alpamon-link-");
const { consoleOf, agentFor } = useConsoleAndAgents();

async function consoleAndAgent(consoleOptions: Parameters<typeof FakeConsole.start>[0] = {}, agentOptions: AgentOptions = {}) {
  const fake = await consoleOf(consoleOptions);
  const dir = tempDir();
  return { fake, agent: agentFor(fake, dir, agentOptions), dir };
}

const countOf = (fake: FakeConsole, pred: (r: FakeConsole["requests"][number]) => boolean) => fake.requests.filter(pred).length;

describe("agent ↔ console", () => {
  test("headers exactly as specified, startup event, ack before fin, ping frame after each message", async () => {
    const { fake } = await consoleAndAgent();
    await fake.waitForBackhaul(15_000);
    const session = fake.requests.find((r) => r.path === "/api/servers/servers/-/")!;
    expect(session.method).toBe("GET");
    expect(session.headers.authorization).toBe(`id="${fake.id}", key="${fake.key}"`);
    expect(session.headers["user-agent"]).toBe(`alpamon/${VERSION}`);
    expect(session.headers["content-type"]).toBeUndefined();
    const handshake = fake.handshakes.find((h) => h.accepted)!;
    expect(handshake.headers.authorization).toBe(`id="${fake.id}", key="${fake.key}"`);
    expect(handshake.headers.origin).toBe(fake.url);
    expect(handshake.headers["user-agent"]).toBe(`alpamon/${VERSION}`);
    const started = await fake.waitForRequest((r) => r.path === "/api/events/events/");
    expect(started.json).toEqual({ reporter: "alpamon", record: "started", description: `alpamon ${VERSION} started running.` });
    expect(started.headers["content-type"]).toBe("application/json");

    const id = fake.sendCommand({ shell: "internal", line: "ping" });
    const fin = await fake.waitForFin(id);
    expect(fin.success).toBe(true);
    expect(fin.result).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)$/);
    expect(typeof fin.elapsed_time).toBe("number");
    const ackIndex = fake.requests.findIndex((r) => r.method === "POST" && r.path === `/api/events/commands/${id}/ack/`);
    const finIndex = fake.requests.findIndex((r) => r.method === "POST" && r.path === `/api/events/commands/${id}/fin/`);
    expect(ackIndex).toBeGreaterThanOrEqual(0);
    expect(ackIndex).toBeLessThan(finIndex);
    expect(fake.requests[ackIndex]!.body).toBe("");
    expect(fake.requests[ackIndex]!.headers["content-type"]).toBe("application/json");
    await fake.waitForAgentFrame((f) => f === '{"query":"ping"}');
  });

  test("a 20 s outage of the fin endpoint, then recovery, still delivers the fin", async () => {
    const { fake } = await consoleAndAgent();
    await fake.waitForBackhaul(15_000);
    fake.fault({ method: "POST", path: /\/fin\/$/ }, { status: 500, forMs: 20_000 });
    const id = fake.sendCommand({ shell: "internal", line: "ping" });
    await fake.waitForAck(id);
    // The retry cap is 60 s with full jitter, so the fin arrives at most about a minute after the outage.
    const fin = await fake.waitForFin(id, 100_000);
    expect(fin.success).toBe(true);
    expect(countOf(fake, (r) => r.path.endsWith(`${id}/fin/`) && r.status === 500)).toBeGreaterThanOrEqual(2);
  }, 110_000);

  test("SIGKILL between ack and fin, then a restart on the same data_dir, still delivers the fin", async () => {
    const { fake, agent, dir } = await consoleAndAgent();
    await fake.waitForBackhaul(15_000);
    const fault = fake.fault({ method: "POST", path: /\/fin\/$/ }, { status: 503 });
    const id = fake.sendCommand({ shell: "internal", line: "ping" });
    await fake.waitForAck(id);
    await fake.waitForRequest((r) => r.path.endsWith(`${id}/fin/`) && r.status === 503);
    await agent.stop("SIGKILL");
    fault.clear();
    agentFor(fake, dir);
    const fin = await fake.waitForFin(id, 30_000);
    expect(fin.success).toBe(true);
    expect(countOf(fake, (r) => r.path.endsWith(`${id}/ack/`) && r.status === 200)).toBe(1);
  }, 60_000);

  test("reconnects after the console drops the socket and after a reconnect query", async () => {
    const { fake } = await consoleAndAgent();
    await fake.waitForBackhaul(15_000);
    fake.dropBackhaul();
    await fake.waitUntil(() => fake.acceptedHandshakes() >= 2 && fake.backhaulCount() === 1, 20_000, "a second handshake");
    expect((await fake.waitForFin(fake.sendCommand({ shell: "internal", line: "ping" }))).success).toBe(true);
    fake.sendFrame({ query: "reconnect", reason: "Session has retired." });
    await fake.waitUntil(() => fake.acceptedHandshakes() >= 3 && fake.backhaulCount() === 1, 20_000, "a third handshake");
    expect((await fake.waitForFin(fake.sendCommand({ shell: "internal", line: "ping" }))).success).toBe(true);
  }, 60_000);

  test("a duplicate command id runs once", async () => {
    const { fake } = await consoleAndAgent();
    await fake.waitForBackhaul(15_000);
    const id = fake.sendCommand({ shell: "internal", line: "ping" });
    fake.sendCommand({ id, shell: "internal", line: "ping" });
    await fake.waitForFin(id);
    const second = fake.sendCommand({ shell: "internal", line: "ping" });
    await fake.waitForFin(second);
    expect(countOf(fake, (r) => r.path === `/api/events/commands/${id}/ack/`)).toBe(1);
    expect(countOf(fake, (r) => r.path === `/api/events/commands/${id}/fin/`)).toBe(1);
  });

  test("falls back to the 2024 PATCH dialect and remembers it", async () => {
    const { fake } = await consoleAndAgent({ dialect: "2024" });
    await fake.waitForBackhaul(15_000);
    const first = fake.sendCommand({ shell: "internal", line: "ping" });
    expect((await fake.waitForFin(first)).success).toBe(true);
    const patches = fake.requests.filter((r) => r.method === "PATCH" && r.path === `/api/events/commands/${first}/`);
    // exit_code rides along in the 2024 form too: the console's PATCH serializer ignores fields it does not know.
    expect(patches.map((r) => Object.keys(r.json as object).sort())).toEqual([
      ["acked_at"],
      ["elapsed_time", "exit_code", "handled_at", "result", "success"],
    ]);
    const second = fake.sendCommand({ shell: "internal", line: "ping" });
    await fake.waitForFin(second);
    expect(countOf(fake, (r) => r.method === "POST" && r.path.startsWith(`/api/events/commands/${second}/`))).toBe(0);
  });

  test("a wrong key is reported clearly and the agent keeps trying", async () => {
    const { fake, agent } = await consoleAndAgent({}, { key: "wrong-key" });
    await agent.waitForLog(
      /\[ERROR\] the console rejected this server's credentials .*status="HTTP 403" hint="check \[server\] id and key in /,
    );
    expect(agent.log).not.toContain(fake.key);
    expect(agent.log).not.toContain("wrong-key");
    expect(agent.proc.exitCode).toBeNull();
  });

  test("garbage frames are survived; a command with a bad field gets a fin naming it", async () => {
    const { fake } = await consoleAndAgent();
    await fake.waitForBackhaul(15_000);
    fake.sendFrame("garbage");
    fake.sendFrame("x".repeat(2 * 1024 * 1024));
    fake.sendFrame({ query: "dance" });
    fake.sendFrame([1, 2, 3]);
    const badEnv = fake.sendCommand({ shell: "system", line: "ls", user: "root", env: { A: 1 } });
    const badData = fake.sendCommand({ shell: "internal", line: "ping", data: "{oops" });
    const unknown = fake.sendCommand({ shell: "internal", line: "frobnicate" });
    expect(await fake.waitForFin(badEnv)).toMatchObject({ success: false, result: "invalid command: command.env values must be strings" });
    expect(await fake.waitForFin(badData)).toMatchObject({ success: false, result: "internal command: data is not valid JSON" });
    expect(await fake.waitForFin(unknown)).toMatchObject({ success: false, result: "Unknown command: frobnicate" });
    expect((await fake.waitForFin(fake.sendCommand({ shell: "internal", line: "ping" }))).success).toBe(true);
    // The warnings went to the console's log history, at priority 90, Python-style level 30.
    const forwarded = await fake.waitForRequest(
      (r) => r.path === "/api/history/logs/" && /invalid message/.test(String((r.json as { msg?: string })?.msg)),
    );
    expect(forwarded.json).toMatchObject({ level: 30, program: "alpamon", path: "router" });
  });

  test("system commands run through the agent as the named user; an empty user is refused", async () => {
    const { fake } = await consoleAndAgent();
    await fake.waitForBackhaul(15_000);
    const asRoot = fake.sendCommand({
      shell: "system",
      line: 'id -un && echo "$GREETING"',
      user: "root",
      env: { GREETING: "hello there" },
    });
    expect(await fake.waitForFin(asRoot)).toMatchObject({ success: true, result: "root\nhello there\n" });
    const asNobody = fake.sendCommand({ shell: "system", line: "id -un", user: "nobody" });
    expect(await fake.waitForFin(asNobody)).toMatchObject({ success: true, result: "nobody\n" });
    const noUser = fake.sendCommand({ shell: "system", line: "id -un" });
    expect(await fake.waitForFin(noUser)).toMatchObject({
      success: false,
      result: "system command: user is required (name root explicitly to run as root)",
    });
    const help = fake.sendCommand({ shell: "internal", line: "help" });
    const listed = [...(await fake.waitForFin(help)).result.matchAll(/^\t\t([\w-]+):/gm)].map((m) => m[1]).sort();
    expect(listed).toEqual([
      "addgroup",
      "adduser",
      "byebye",
      "closetunnel",
      "commit",
      "delgroup",
      "deluser",
      "download",
      "firewall",
      "firewall-batch-apply",
      "firewall-chain-delete",
      "firewall-reorder-chains",
      "firewall-reorder-rules",
      "firewall-rollback",
      "firewall-rules",
      "firewall-status",
      "help",
      "moduser",
      "openftp",
      "openpty",
      "opentunnel",
      "ping",
      "quit",
      "reboot",
      "reconnect",
      "refreshpty",
      "resizepty",
      "restart",
      "rm",
      "shutdown",
      "sync",
      "update",
      "upgrade",
      "upload",
    ]);
  });

  test("local programs log through the root-only Unix socket; records reach the console's log history", async () => {
    const { fake, dir } = await consoleAndAgent();
    await fake.waitForBackhaul(15_000);
    const socketPath = join(dir, "log.sock");
    expect(statSync(socketPath).mode & 0o777).toBe(0o600);
    const body = Buffer.from(
      JSON.stringify({
        date: "2025-10-13T16:43:40+09:00",
        level: 40,
        program: "plugin",
        path: "p.py",
        lineno: 7,
        pid: 1,
        msg: "local hello",
      }),
    );
    const head = Buffer.alloc(4);
    head.writeUInt32BE(body.length);
    await new Promise<void>((resolve, reject) => {
      const socket = connect(socketPath, () => socket.end(Buffer.concat([head, body])));
      socket.on("close", () => resolve());
      socket.on("error", reject);
    });
    const forwarded = await fake.waitForRequest(
      (r) => r.path === "/api/history/logs/" && (r.json as { msg?: string })?.msg === "local hello",
    );
    expect(forwarded.json).toMatchObject({ level: 40, program: "plugin", lineno: 7 });
  });

  test("download through the agent: the worker (alpamon ftp-worker) writes the file as the named user", async () => {
    const { fake, dir } = await consoleAndAgent();
    await fake.waitForBackhaul(15_000);
    const target = join(dir, "downloaded.txt");
    const id = fake.sendCommand({
      shell: "internal",
      line: `download ${JSON.stringify(target)}`,
      data: { type: "text", content: "hello from the console\n", path: target, username: "root", groupname: "root" },
    });
    expect(await fake.waitForFin(id, 15_000)).toMatchObject({ success: true, result: `Successfully downloaded ${target}.` });
    expect(readFileSync(target, "utf8")).toBe("hello from the console\n");
    const again = fake.sendCommand({
      shell: "internal",
      line: "download",
      data: { type: "text", content: "x", path: target, username: "root", groupname: "root" },
    });
    expect((await fake.waitForFin(again, 15_000)).success).toBe(false);
    expect(readFileSync(target, "utf8")).toBe("hello from the console\n");
  });

  test("quit: the fin is delivered, then the agent exits 0", async () => {
    const { fake, agent } = await consoleAndAgent();
    await fake.waitForBackhaul(15_000);
    const id = fake.sendCommand({ shell: "internal", line: "quit" });
    expect(await fake.waitForFin(id)).toMatchObject({ success: true, result: "Alpamon will shutdown in 1 second." });
    expect(await agent.done).toBe(0);
  });

  test("restart: the fin is delivered, then the agent re-executes in place with the same PID", async () => {
    const { fake, agent, dir } = await consoleAndAgent();
    await fake.waitForBackhaul(15_000);
    const id = fake.sendCommand({ shell: "internal", line: "restart" });
    expect(await fake.waitForFin(id)).toMatchObject({ success: true, result: "Alpamon will restart in 1 second." });
    await fake.waitUntil(() => fake.requests.filter((r) => r.path === "/api/events/events/").length >= 2, 20_000, "a second started event");
    await fake.waitUntil(() => fake.backhaulCount() === 1 && fake.acceptedHandshakes() >= 2, 20_000, "a new backhaul");
    expect(readFileSync(join(dir, "alpamon.pid"), "utf8")).toBe(`${agent.pid}\n`);
    expect(agent.proc.exitCode).toBeNull();
    expect((await fake.waitForFin(fake.sendCommand({ shell: "internal", line: "ping" }))).success).toBe(true);
  }, 40_000);
});

describe("TLS", () => {
  test("ca_cert is honoured by HTTP and the backhaul", async () => {
    const { fake } = await consoleAndAgent({ tls: true });
    expect(fake.url.startsWith("https://")).toBe(true);
    await fake.waitForBackhaul(15_000);
    expect((await fake.waitForFin(fake.sendCommand({ shell: "internal", line: "ping" }))).success).toBe(true);
  });

  test("without the CA, verification fails and nothing is sent", async () => {
    const { fake, agent } = await consoleAndAgent({ tls: true }, { useCa: false });
    await agent.waitForLog(/\[WARN\] console session check failed; retrying .*problem=/);
    expect(agent.log).toMatch(/certificate|self.signed|unable to (get|verify)/i);
    expect(fake.requests).toHaveLength(0);
    expect(fake.acceptedHandshakes()).toBe(0);
  });

  test("verify = false connects without the CA, with a warning", async () => {
    const { fake, agent } = await consoleAndAgent({ tls: true }, { useCa: false, verify: false });
    await fake.waitForBackhaul(15_000);
    expect(agent.log).toContain("TLS certificate verification is turned off");
    expect((await fake.waitForFin(fake.sendCommand({ shell: "internal", line: "ping" }))).success).toBe(true);
  });
});

describe.each(["2024", "2025", "2026"] as const)("the same flows against the %s console", (dialect) => {
  test("fins carry exit_code (0, 1 for an unknown command); liveness follows the dialect's rule", async () => {
    const { fake } = await consoleAndAgent({ dialect });
    await fake.waitForBackhaul(15_000);
    const good = fake.sendCommand({ shell: "internal", line: "ping" });
    const bad = fake.sendCommand({ shell: "internal", line: "frobnicate" });
    expect(await fake.waitForFin(good)).toMatchObject({ success: true, exit_code: 0 });
    expect(await fake.waitForFin(bad)).toMatchObject({ success: false, exit_code: 1 });
    expect(fake.state.commands.get(bad)!.exit_code).toBe(1);
    if (dialect === "2026") {
      // It pinged on connect: the pong came back, and the agent sent no pings of its own after that.
      await fake.waitUntil(() => fake.pongs().length >= 1, 5_000, "the pong");
      expect(fake.agentPingFrames()).toBe(0);
    } else {
      await fake.waitUntil(() => fake.agentPingFrames() >= 2, 5_000, "the agent's pings");
      expect(fake.pongs()).toEqual([]);
    }
  });
});
