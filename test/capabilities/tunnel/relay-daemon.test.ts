// The relay helper on its own (`alpamon tunnel-daemon <socket> <allowed ports>`, spec/upstream-2026.md §8.4.5): the
// socket is 0600, a probe that sends nothing is ignored, the target line is checked again (loopback only, an allowed
// port), bytes are relayed with half-close, and SIGTERM or the end of stdin stop it, removing the socket only when
// the path is still a socket.
import { describe, expect, test } from "bun:test";
import { existsSync, lstatSync, renameSync, statSync, symlinkSync } from "node:fs";
import { createConnection, type Socket } from "node:net";
import { join } from "node:path";
import { MAIN } from "../../helpers/cli.ts";
import { useTempDirs } from "../../helpers/tmp.ts";
import { echoServer, until } from "./tunnel-fixtures.ts";

const tempDir = useTempDirs("alpamon-relay-");

function startDaemon(socket: string, ports: string) {
  const proc = Bun.spawn([process.execPath, MAIN, "tunnel-daemon", socket, ports], {
    cwd: "/",
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin" },
    stdin: "pipe",
    stdout: "ignore",
    stderr: "pipe",
  });
  let stderr = "";
  void (async () => {
    for await (const chunk of proc.stderr) stderr += new TextDecoder().decode(chunk);
  })();
  return { proc, stderr: () => stderr };
}

function connectTo(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const sock = createConnection({ path, allowHalfOpen: true });
    sock.once("connect", () => resolve(sock));
    sock.once("error", reject);
  });
}

/** Writes `line` then `body`, half-closes, and reads until the helper closes. */
async function exchange(path: string, line: string, body: string): Promise<string> {
  const sock = await connectTo(path);
  const parts: Buffer[] = [];
  sock.on("data", (chunk: Buffer) => parts.push(chunk));
  const done = new Promise<void>((resolve) => sock.once("close", () => resolve()));
  sock.on("error", () => {});
  sock.end(line + body);
  await done;
  return Buffer.concat(parts).toString("utf8");
}

describe("tunnel-daemon", () => {
  test("relays to an allowed loopback port with half-close; refuses other ports and hosts; SIGTERM removes the socket", async () => {
    const echo = await echoServer();
    const other = await echoServer();
    const socket = join(tempDir(), "relay.sock");
    const daemon = startDaemon(socket, `${echo.port},1-2`);
    try {
      await until(() => existsSync(socket), "the socket");
      expect(statSync(socket).mode & 0o777).toBe(0o600);
      // The readiness probe: connect and close without a byte.
      (await connectTo(socket)).end();
      expect(await exchange(socket, `127.0.0.1:${echo.port}\n`, "through the relay")).toBe("through the relay");
      await until(() => echo.eofs === 1, "the target to see the half-close");
      expect(await exchange(socket, `127.0.0.1:${other.port}\n`, "x")).toBe("");
      expect(await exchange(socket, `10.0.0.1:${echo.port}\n`, "x")).toBe("");
      expect(await exchange(socket, `localhost:${echo.port}\n`, "x")).toBe("");
      expect(other.connections).toBe(0);
      expect(echo.connections).toBe(1);
      await until(() => /port \d+ is not in \[tunnel\] allowed_ports/.test(daemon.stderr()), "the refusal on stderr");
      expect(daemon.stderr()).toContain("the target must be 127.0.0.1:<port>");
      daemon.proc.kill("SIGTERM");
      expect(await daemon.proc.exited).toBe(0);
      expect(existsSync(socket)).toBe(false);
    } finally {
      daemon.proc.kill("SIGKILL");
      echo.close();
      other.close();
    }
  }, 30_000);

  test("the end of stdin stops it; a path that is no longer a socket is left alone", async () => {
    const dir = tempDir();
    const socket = join(dir, "relay.sock");
    const daemon = startDaemon(socket, "");
    try {
      await until(() => existsSync(socket), "the socket");
      renameSync(socket, join(dir, "moved.sock"));
      symlinkSync(join(dir, "moved.sock"), socket);
      daemon.proc.stdin.end();
      expect(await daemon.proc.exited).toBe(0);
      expect(lstatSync(socket).isSymbolicLink()).toBe(true);
    } finally {
      daemon.proc.kill("SIGKILL");
    }
  }, 30_000);

  test("a bad allowed-ports list is refused at start", async () => {
    const daemon = startDaemon(join(tempDir(), "relay.sock"), "22,x");
    expect(await daemon.proc.exited).toBe(2);
    await until(() => daemon.stderr().includes("bad allowed ports"), "the complaint");
  }, 30_000);
});
