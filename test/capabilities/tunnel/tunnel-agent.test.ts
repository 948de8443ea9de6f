// Tunnels end to end through the agent process and a real relay helper (spec/upstream-2026.md §8): the fake console
// sends opentunnel on the backhaul, plays the tunnel server's smux side (test/console/fake-tunnel.ts) and opens streams
// to real loopback servers. Checks the bytes (256 MB with checksums), half-close, the stream limits, allowed_ports,
// who the helper runs as, the credential rule, and that closetunnel and shutdown leave no helper and no socket.
import { describe, expect, test } from "bun:test";
import { chmodSync, existsSync, readdirSync } from "node:fs";
import { createServer, type Socket } from "node:net";
import { join } from "node:path";
import type { FakeConsole } from "../../console/fake-console.ts";
import { type FakeStream, FakeTunnelConsole } from "../../console/fake-tunnel.ts";
import { type RunningAgent, useConsoleAndAgents } from "../../helpers/agent.ts";
import { useTempDirs } from "../../helpers/tmp.ts";
import {
  closeTunnel,
  closingServer,
  credentials,
  echoServer,
  helperPids,
  openTunnel,
  pattern,
  sendOpenTunnel,
  sha256,
  until,
} from "./tunnel-fixtures.ts";

const tempDir = useTempDirs("alpamon-tunnel-");
const { consoleOf, agentFor, cleanup } = useConsoleAndAgents();
const isRoot = process.getuid?.() === 0;
const MiB = 1 << 20;

interface Setup {
  fake: FakeConsole;
  tun: FakeTunnelConsole;
  agent: RunningAgent;
  dir: string;
}

/**
 * A console, a tunnel server (its own origin, or `mounted` on the console's) and an agent. The load check is off
 * (load_limit = 100) unless `tunnel` sets it: a two-core test host is often busy above 90 %.
 */
async function setup(tunnel = "", mounted = false): Promise<Setup> {
  const fake = await consoleOf();
  const tun = mounted ? new FakeTunnelConsole(fake) : new FakeTunnelConsole();
  cleanup(() => tun.stop());
  const dir = tempDir();
  // The helper (nobody) must be able to reach its socket under <run dir>/tunnels.
  chmodSync(dir, 0o711);
  const agent = agentFor(fake, dir, { extraConfig: `[tunnel]\nload_limit = 100\n${tunnel}` });
  await fake.waitForBackhaul(30_000);
  return { fake, tun, agent, dir };
}

/** Sends `total` bytes and reads the echo concurrently; both checksums. */
async function echoThrough(stream: FakeStream, total: number, seed: number): Promise<{ sent: string; echoed: string }> {
  const sentHash = new Bun.CryptoHasher("sha256");
  const echoHash = new Bun.CryptoHasher("sha256");
  const reading = (async () => {
    for (let chunk = await stream.read(); chunk; chunk = await stream.read()) echoHash.update(chunk);
  })();
  for (const chunk of pattern(total, seed)) {
    sentHash.update(chunk);
    await stream.write(chunk);
  }
  await stream.fin();
  await reading;
  return { sent: sentHash.digest("hex"), echoed: echoHash.digest("hex") };
}

/** One big-body HTTP server: GET /big answers `size` bytes of pattern(seed). */
function httpServer(size: number, seed: number): { port: number; body: string; stop(): void } {
  const parts = [...pattern(size, seed)].map((p) => p.slice());
  const body = sha256(parts);
  const server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch: (req) => (new URL(req.url).pathname === "/big" ? new Response(new Blob(parts)) : new Response("small")),
  });
  return { port: server.port!, body, stop: () => server.stop(true) };
}

async function httpGet(stream: FakeStream, path: string): Promise<{ head: string; bodyHash: string; length: number }> {
  await stream.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
  const parts: Uint8Array[] = [];
  for (let chunk = await stream.read(); chunk; chunk = await stream.read()) parts.push(chunk);
  const all = Buffer.concat(parts);
  const split = all.indexOf("\r\n\r\n");
  const body = all.subarray(split + 4);
  return { head: all.subarray(0, split).toString("latin1"), bodyHash: sha256([body]), length: body.length };
}

describe("tunnels through the agent", () => {
  test("256 MB over 3 echo streams and an HTTP stream, with checksums; the helper is nobody without groups; closetunnel cleans up", async () => {
    const echo = await echoServer();
    const http = httpServer(64 * MiB, 7);
    const closing = await closingServer("bye\n");
    cleanup(() => echo.close());
    cleanup(() => http.stop());
    cleanup(() => closing.close());
    const { fake, tun, dir, agent } = await setup(`allowed_ports = ${echo.port},${http.port},${closing.port}`);
    const sid = `big-${crypto.randomUUID().slice(0, 8)}`;
    const conn = await openTunnel(fake, tun, sid, { target_port: echo.port }, `Tunnel opened for session ${sid} to port ${echo.port}.`);
    // Not the console's origin: the server key stays home.
    expect(conn.headers.authorization).toBeUndefined();

    const [pid] = await until(() => helperPids(join(dir, "tunnels", sid)), "the helper");
    if (isRoot) expect(credentials(pid!)).toEqual({ uid: "65534 65534 65534 65534", gid: "65534 65534 65534 65534", groups: "" });

    const started = performance.now();
    const streams = await Promise.all([conn.open({}), conn.open({}), conn.open({ remote_port: "" })]);
    const web = await conn.open({ remote_port: String(http.port) });
    const [results, got] = await Promise.all([Promise.all(streams.map((s, i) => echoThrough(s, 64 * MiB, i + 1))), httpGet(web, "/big")]);
    const seconds = (performance.now() - started) / 1000;
    for (const r of results) expect(r.echoed).toBe(r.sent);
    expect(got.head).toStartWith("HTTP/1.1 200");
    expect({ length: got.length, hash: got.bodyHash }).toEqual({ length: 64 * MiB, hash: http.body });
    console.log(`tunnel: 192 MiB echoed both ways + 64 MiB down in ${seconds.toFixed(1)} s`);

    // Half-close (§8.4.6): after the console's FIN the target sees EOF, its remaining bytes still come back, then FIN.
    const eofsBefore = echo.eofs;
    const half = await conn.open({});
    await half.write("last words");
    await half.fin();
    expect(await half.readAll()).toBe("last words");
    expect(half.finReceived).toBe(true);
    expect(echo.eofs).toBe(eofsBefore + 1);
    // Bytes after the metadata line in the same frame go to the target first.
    const packed = await conn.open("{}\nsame frame");
    await packed.fin();
    expect(await packed.readAll()).toBe("same frame");
    // The target ends first: its bytes, then the stream's FIN, without a FIN from the console.
    const early = await conn.open({ remote_port: String(closing.port) });
    expect(await early.readAll()).toBe("bye\n");

    // The token in the URL's path never reaches the log; the host does.
    expect(agent.log).toContain(`host=${new URL(tun.url).host}`);
    expect(agent.log).not.toContain("/ws/tunnel/");

    expect(await closeTunnel(fake, sid)).toMatchObject({ success: true, result: `Tunnel closed for session ${sid}.` });
    expect(helperPids(join(dir, "tunnels", sid))).toEqual([]);
    expect(existsSync(join(dir, "tunnels", sid))).toBe(false);
    await conn.waitClosed();
    expect(await closeTunnel(fake, sid)).toMatchObject({
      success: false,
      result: `closetunnel: Failed to close tunnel. tunnel session ${sid} not found`,
    });
  }, 120_000);

  test("70 streams: 64 relayed at once, the 65th waits for a free slot; a port outside allowed_ports and bad metadata are refused", async () => {
    const held = new Set<Socket>();
    let accepted = 0;
    const holder = createServer((sock) => {
      accepted++;
      held.add(sock);
      sock.on("error", () => {});
      sock.on("close", () => held.delete(sock));
      sock.pipe(sock);
    });
    await new Promise<void>((resolve) => holder.listen(0, "127.0.0.1", () => resolve()));
    const port = (holder.address() as { port: number }).port;
    const outside = await echoServer();
    cleanup(() => {
      for (const s of held) s.destroy();
      holder.close();
      outside.close();
    });
    const { fake, tun, agent } = await setup(`allowed_ports = ${port}`, true);
    const sid = `many-${crypto.randomUUID().slice(0, 8)}`;
    const conn = await openTunnel(fake, tun, sid, { target_port: port }, `Tunnel opened for session ${sid} to port ${port}.`);
    // On the console's origin: the handshake carries the server's credentials.
    expect(conn.headers.authorization).toBe(`id="${fake.id}", key="${fake.key}"`);

    // remote_port outside allowed_ports: the stream is closed, nothing reaches the port.
    const refused = await conn.open({ remote_port: String(outside.port) });
    expect(await refused.readAll()).toBe("");
    expect(refused.finReceived).toBe(true);
    expect(outside.connections).toBe(0);
    await until(
      () => new RegExp(`tunnel stream refused .*reason="port ${outside.port} is not in \\[tunnel\\] allowed_ports"`).test(agent.log),
      "the refusal in the log",
    );
    // Bad metadata closes the stream too.
    const bad = await conn.open("not json\n");
    expect(await bad.readAll()).toBe("");
    const long = await conn.open(`{"remote_port":"${"1".repeat(1100)}"}\n`);
    expect(await long.readAll()).toBe("");

    const streams: FakeStream[] = [];
    for (let i = 0; i < 70; i++) streams.push(await conn.open({}));
    await until(() => accepted === 64, "64 relayed streams");
    // A round trip on the last accepted stream: every SYN before it has been seen by the agent by now.
    await streams[63]!.write("ping");
    await until(() => streams[63]!.chunks.length > 0, "the echo on stream 64");
    expect(accepted).toBe(64);
    await until(() => /tunnel streams at 75% of the session limit/.test(agent.log), "the 75 % warning");

    await streams[0]!.fin();
    await until(() => streams[0]!.finReceived, "stream 1 to end");
    await until(() => accepted === 65, "the 65th stream once a slot is free");
    await streams[64]!.write("late");
    await until(() => Buffer.concat(streams[64]!.chunks).toString() === "late", "the 65th stream's echo");
    for (const s of streams.slice(1, 6)) await s.fin();
    await until(() => accepted === 70, "all 70 streams");
  }, 120_000);

  test("opentunnel checks the host's load first (load_limit)", async () => {
    const echo = await echoServer();
    cleanup(() => echo.close());
    const { fake, tun } = await setup("load_limit = 0");
    // Memory in use is always above 0 %: the load check answers (CPU first when it was busy).
    const loaded = await sendOpenTunnel(fake, { session_id: "busy", url: tun.tunnelUrl("busy"), target_port: echo.port });
    expect(loaded.success).toBe(false);
    expect(loaded.result).toMatch(/^opentunnel: (CPU|memory) usage \d+\.\d% exceeds limit 0%$/);
    expect(tun.connections).toEqual([]);
  }, 60_000);

  test("opentunnel checks: a duplicate session, bad data; shutdown leaves no helper and no socket", async () => {
    const echo = await echoServer();
    cleanup(() => echo.close());
    const { fake, tun, dir, agent } = await setup();
    const sid = `dup-${crypto.randomUUID().slice(0, 8)}`;
    const conn = await openTunnel(fake, tun, sid, { target_port: echo.port }, `Tunnel opened for session ${sid} to port ${echo.port}.`);
    const again = await sendOpenTunnel(fake, { session_id: sid, url: tun.tunnelUrl(sid), target_port: echo.port });
    expect(again).toMatchObject({ success: false, result: `opentunnel: tunnel with session ID ${sid} already exists` });
    const bad = async (data: Record<string, unknown>) => (await sendOpenTunnel(fake, data)).result;
    expect(await bad({ session_id: "../x", url: tun.tunnelUrl("x"), target_port: 1 })).toContain("session_id must hold only letters");
    expect(await bad({ session_id: "x", url: "http://127.0.0.1/", target_port: 1 })).toContain(
      "url must be an absolute ws:// or wss:// URL",
    );
    expect(await bad({ session_id: "x", url: tun.tunnelUrl("x"), target_port: 70_000 })).toContain("target_port must be from 1 to 65535");
    expect(await bad({ session_id: "x", url: tun.tunnelUrl("x"), client_type: "ssh", target_port: 1 })).toContain("client_type");

    const stream = await conn.open({});
    await stream.write("still up");
    await until(() => Buffer.concat(stream.chunks).toString() === "still up", "the echo");
    expect(helperPids(join(dir, "tunnels", sid)).length).toBe(1);
    // A socket path longer than sun_path's 108 bytes still works (Bun binds and connects such paths).
    const long = `long-${"x".repeat(120)}`;
    const conn2 = await openTunnel(fake, tun, long, { target_port: echo.port }, `Tunnel opened for session ${long} to port ${echo.port}.`);
    const stream2 = await conn2.open({});
    await stream2.write("long id");
    await until(() => Buffer.concat(stream2.chunks).toString() === "long id", "the echo on the long-id tunnel");
    expect(helperPids(join(dir, "tunnels")).length).toBe(2);
    agent.proc.kill("SIGTERM");
    expect(await agent.done).toBe(0);
    // Closed by the agent's shutdown (the tunnels part), not by the helper noticing the agent is gone.
    expect(agent.log).toMatch(new RegExp(`tunnel closed .*session=${sid} reason="the agent is stopping"`));
    expect(helperPids(join(dir, "tunnels"))).toEqual([]);
    expect(readdirSync(join(dir, "tunnels"))).toEqual([]);
    await conn.waitClosed();
    await conn2.waitClosed();
  }, 120_000);
});
