// Loopback targets for the tunnel tests and benchmark: an echo server (half-close aware: it finishes echoing after
// the client's FIN, then closes), a server that holds connections until told, a big-body HTTP server, and helpers to
// find a tunnel's helper process and open a tunnel through the fake console.
import { expect } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import type { FakeConsole } from "../../console/fake-console.ts";
import { eventually } from "../../console/fake-console-waits.ts";
import type { FakeTunnelConsole, TunnelConnection } from "../../console/fake-tunnel.ts";

export interface EchoServer {
  port: number;
  /** Connections that reached it, and how many saw the client's half-close (EOF). */
  connections: number;
  eofs: number;
  open: Set<Socket>;
  close(): void;
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as { port: number }).port)));
}

export async function echoServer(): Promise<EchoServer> {
  const open = new Set<Socket>();
  const state = { connections: 0, eofs: 0 };
  const server = createServer({ allowHalfOpen: true }, (sock) => {
    state.connections++;
    open.add(sock);
    sock.on("end", () => state.eofs++);
    sock.on("close", () => open.delete(sock));
    sock.on("error", () => {});
    sock.pipe(sock);
  });
  const port = await listen(server);
  return {
    port,
    get connections() {
      return state.connections;
    },
    get eofs() {
      return state.eofs;
    },
    open,
    close() {
      for (const s of open) s.destroy();
      server.close();
    },
  };
}

/** Writes `greeting`, then closes at once: the target ends first. */
export async function closingServer(greeting: string): Promise<{ port: number; close(): void }> {
  const server = createServer((sock) => {
    sock.on("error", () => {});
    sock.end(greeting);
  });
  const port = await listen(server);
  return { port, close: () => server.close() };
}

/** A deterministic pseudo-random byte stream: `total` bytes in chunks of `chunk`, all different in order. */
export function* pattern(total: number, seed: number, chunk = 256 * 1024): Generator<Uint8Array> {
  const block = new Uint8Array(4 << 20);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < block.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    block[i] = x & 0xff;
  }
  for (let sent = 0, i = 0; sent < total; i++) {
    const n = Math.min(chunk, total - sent);
    const at = (i * 40_503) % (block.length - n);
    yield block.subarray(at, at + n);
    sent += n;
  }
}

export function sha256(parts: Iterable<Uint8Array>): string {
  const hash = new Bun.CryptoHasher("sha256");
  for (const part of parts) hash.update(part);
  return hash.digest("hex");
}

/** The pids of tunnel helpers whose argv names `needle` (the session's socket path part). */
export function helperPids(needle: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const argv = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
      if (argv.includes("tunnel-daemon") && argv.some((a) => a.includes(needle))) pids.push(Number(entry));
    } catch {
      // gone
    }
  }
  return pids;
}

/** Uid, Gid and Groups lines of /proc/<pid>/status. */
export function credentials(pid: number): { uid: string; gid: string; groups: string } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const line = (name: string) => (new RegExp(`^${name}:\\t?(.*)$`, "m").exec(status)?.[1] ?? "").trim().replace(/\s+/g, " ");
  return { uid: line("Uid"), gid: line("Gid"), groups: line("Groups") };
}

/** Sends opentunnel and returns its fin. */
export async function sendOpenTunnel(fake: FakeConsole, data: Record<string, unknown>): Promise<{ success: boolean; result: string }> {
  return await fake.waitForFin(fake.sendCommand({ shell: "internal", line: "opentunnel", data }), 30_000);
}

/** Sends opentunnel, expects its success reply, and waits for the agent's tunnel socket. */
export async function openTunnel(
  fake: FakeConsole,
  tun: FakeTunnelConsole,
  sid: string,
  data: Record<string, unknown>,
  reply: string,
): Promise<TunnelConnection> {
  const fin = await sendOpenTunnel(fake, { session_id: sid, url: tun.tunnelUrl(sid), ...data });
  expect(fin).toMatchObject({ success: true, result: reply });
  return await tun.waitForConnection(sid, 20_000);
}

export async function closeTunnel(fake: FakeConsole, sid: string): Promise<{ success: boolean; result: string }> {
  return await fake.waitForFin(fake.sendCommand({ shell: "internal", line: "closetunnel", data: { session_id: sid } }), 60_000);
}

/** `eventually` (fake-console-waits.ts) with the tunnel tests' argument order and a 15 s bound. */
export function until<T>(
  check: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  what: string,
  timeoutMs = 15_000,
): Promise<T> {
  return eventually(check, timeoutMs, what);
}
