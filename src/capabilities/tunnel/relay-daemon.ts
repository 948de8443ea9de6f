// The tunnel relay helper (spec/upstream-2026.md §8.4.5): `alpamon tunnel-daemon <socket> [allowed ports]`, started
// by the agent once per tunnel as `nobody` with no supplementary groups. It listens on a 0600 Unix socket; per
// connection the agent writes `127.0.0.1:<port>\n`, the helper checks it again (loopback only, a port in the
// allowed list) and relays bytes to that port with TCP_NODELAY, half-closing like a TCP proxy. It never dials a
// name or another host, never runs as root by design (the agent demotes it), and exits when the agent's pipe on
// its stdin closes or on SIGTERM, removing its socket only if the path is still a socket.
import { lstatSync, unlinkSync } from "node:fs";
import type { SocketListener } from "bun";
import { parsePortList, portAllowed, type PortRange } from "../../config/schema.ts";
import { ByteSocket, byteSocketHandler } from "./byte-socket.ts";

export const DAEMON_SUBCOMMAND = "tunnel-daemon";
const MAX_LINE = 64;
const DIAL_TIMEOUT_MS = 10_000;
const KEEPALIVE_MS = 30_000;
/** How long a stopping helper lets active relays finish. */
const DRAIN_MS = 5_000;

/** The target of a request line, or why it is refused. */
export function parseTargetLine(line: string, allowed: readonly PortRange[]): { port: number } | { error: string } {
  const m = /^127\.0\.0\.1:(\d{1,5})$/.exec(line);
  if (!m) return { error: "the target must be 127.0.0.1:<port>" };
  const port = Number(m[1]);
  if (port < 1 || port > 65_535) return { error: "the port is out of range" };
  if (!portAllowed(allowed, port)) return { error: `port ${port} is not in [tunnel] allowed_ports` };
  return { port };
}

/** True when `path` is still the socket this helper created (same device and inode), not something put there since. */
function isOurSocket(path: string, ours: { dev: number; ino: number } | undefined): boolean {
  try {
    const st = lstatSync(path);
    return st.isSocket() && !!ours && st.dev === ours.dev && st.ino === ours.ino;
  } catch {
    return false;
  }
}

/** Relays one accepted connection; resolves when it has closed (the target is closed with it). */
function relay(conn: ByteSocket, allowed: readonly PortRange[], complain: (text: string) => void): Promise<void> {
  return new Promise((done) => {
    let head = Buffer.alloc(0);
    let target: ByteSocket | undefined;
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      conn.destroy();
      target?.destroy();
      done();
    };
    // Before a target: the readiness probe (nothing sent, then closed) or a request cut short. After: the
    // agent's end is passed on to the target (half-close); the agent's close ends the relay.
    conn.onEnd = () => {
      if (target) target.end();
      else finish();
    };
    conn.onClose = finish;
    /** Copies `from` to `to`, reading `from` only while `to` takes the bytes. */
    const forward = (from: ByteSocket, to: ByteSocket) => {
      from.onData = (chunk) => {
        if (to.write(chunk)) return;
        from.pause();
        void to.drained().then(() => from.resume());
      };
    };
    const onHead = (chunk: Uint8Array) => {
      head = Buffer.concat([head, chunk]);
      const nl = head.indexOf(10);
      if (nl < 0) {
        if (head.length > MAX_LINE) {
          complain("refused a relay request: no target line");
          finish();
        }
        return;
      }
      conn.pause();
      const parsed = parseTargetLine(head.subarray(0, nl).toString("latin1"), allowed);
      if ("error" in parsed) {
        complain(`refused a relay request: ${parsed.error}`);
        finish();
        return;
      }
      const t = new ByteSocket();
      target = t;
      const rest = head.subarray(nl + 1);
      if (rest.length > 0) t.write(rest);
      forward(conn, t);
      forward(t, conn);
      const timer = setTimeout(() => t.destroy(), DIAL_TIMEOUT_MS);
      t.onOpen = (socket) => {
        clearTimeout(timer);
        socket.setNoDelay(true);
        socket.setKeepAlive(true, KEEPALIVE_MS);
        conn.resume();
      };
      // The target's end or close: FIN to the agent once everything it sent is written.
      t.onEnd = () => conn.end();
      t.onClose = () => {
        clearTimeout(timer);
        conn.end();
      };
      Bun.connect({ hostname: "127.0.0.1", port: parsed.port, allowHalfOpen: true, data: t, socket: byteSocketHandler }).catch(() =>
        t.closedNow(),
      );
    };
    conn.onData = onHead;
  });
}

/** The helper's main: returns the exit code. */
export async function runTunnelDaemon(args: string[]): Promise<number> {
  const [socketPath, portList = ""] = args;
  const complain = (text: string) => process.stderr.write(`alpamon tunnel-daemon: ${text}\n`);
  if (!socketPath?.startsWith("/")) {
    complain("usage: tunnel-daemon <absolute socket path> [allowed ports]");
    return 2;
  }
  const allowed = parsePortList(portList);
  if ("error" in allowed) {
    complain(`bad allowed ports: ${allowed.error}`);
    return 2;
  }
  const active = new Set<Promise<void>>();
  const sockets = new Set<ByteSocket>();
  let accepting = true;
  const accept = (conn: ByteSocket) => {
    if (!accepting) {
      conn.destroy();
      return;
    }
    sockets.add(conn);
    const job = relay(conn, allowed, complain).finally(() => {
      sockets.delete(conn);
      active.delete(job);
    });
    active.add(job);
  };
  let server: SocketListener<ByteSocket>;
  // 0600 from the moment the socket exists: no window where another user could connect.
  const previousUmask = process.umask(0o177);
  try {
    server = Bun.listen<ByteSocket>({
      unix: socketPath,
      allowHalfOpen: true,
      socket: {
        ...byteSocketHandler,
        open(socket) {
          const conn = new ByteSocket();
          socket.data = conn;
          conn.attach(socket);
          accept(conn);
        },
      },
    });
  } catch (err) {
    complain(`cannot listen on ${socketPath}: ${(err as Error).message}`);
    return 1;
  } finally {
    process.umask(previousUmask);
  }
  let ours: { dev: number; ino: number } | undefined;
  try {
    ours = lstatSync(socketPath);
  } catch {
    // checked again at the end
  }

  const { promise: stopping, resolve: stop } = Promise.withResolvers<string>();
  process.once("SIGTERM", () => stop("SIGTERM"));
  process.once("SIGINT", () => stop("SIGINT"));
  // The agent holds our stdin open; its end (the agent died or let go) stops us too.
  process.stdin.on("end", () => stop("stdin closed"));
  process.stdin.on("error", () => stop("stdin closed"));
  process.stdin.resume();

  await stopping;
  accepting = false;
  const drained = Promise.all([...active]);
  await Promise.race([drained, Bun.sleep(DRAIN_MS)]);
  for (const conn of sockets) conn.destroy();
  // The path is removed, and the listener stopped, only while it is still our socket. Otherwise the process
  // just exits, and whatever is at the path stays.
  if (isOurSocket(socketPath, ours)) {
    unlinkSync(socketPath);
    server.stop(true);
  }
  process.stdin.pause();
  return 0;
}
