// The agent's side of the relay helper (spec/upstream-2026.md §8.4.5): prepares the tunnel's 0700 directory (owned by
// the helper's user), starts `alpamon tunnel-daemon` through exec/ (as nobody, no supplementary groups, its own
// process group), waits until its socket accepts, opens one connection per stream with the target line, and stops
// it (SIGTERM, 10 s, SIGKILL). Never follows a link when it creates or removes anything in the directory.
import { chownSync, lstatSync, mkdirSync, rmdirSync, rmSync, unlinkSync } from "node:fs";
import { createConnection } from "node:net";
import { join } from "node:path";
import { formatPortList, type PortRange } from "../../config/schema.ts";
import type { Identity } from "../../exec/types.ts";
import type { SpawnWorker, Worker } from "../../exec/worker.ts";
import type { Logger } from "../../log/logger.ts";
import type { Clock } from "../../platform/clock.ts";
import { ByteSocket, byteSocketHandler } from "./byte-socket.ts";
import { DAEMON_SUBCOMMAND } from "./relay-daemon.ts";

const READY_POLL_MS = 100;
const READY_WITHIN_MS = 5_000;
const PROBE_TIMEOUT_MS = 1_000;
const STOP_GRACE_MS = 10_000;
const SOCKET_NAME = "relay.sock";
export interface RelayDeps {
  spawnWorker: SpawnWorker;
  /** argv that runs this program with the given arguments (selfArgv in the agent). */
  selfArgv: (args: string[]) => string[];
  /** Where the tunnels' directories live (root-owned; `<run dir>/tunnels`). */
  baseDir: string;
  allowedPorts: readonly PortRange[];
  log: Logger;
  clock: Clock;
}

export interface RelayHelper {
  readonly pid: number;
  readonly socketPath: string;
  /** Resolves with the exit code when the helper has exited. */
  readonly exited: Promise<number>;
  /** A connection to 127.0.0.1:<port> through the helper, connecting; `first` is written right after the target line. */
  connect(port: number, first: Uint8Array): ByteSocket;
  /** Stops the helper and removes its socket and directory. Idempotent. */
  stop(): Promise<void>;
}

/** The base directory: created root-owned and 0755 if missing; refused when it is a link or not ours. */
function prepareBase(baseDir: string): string | undefined {
  mkdirSync(baseDir, { recursive: true, mode: 0o755 });
  const st = lstatSync(baseDir);
  const me = process.getuid?.() ?? 0;
  if (!st.isDirectory()) return `${baseDir} is not a directory`;
  if (st.uid !== me) return `${baseDir} is not owned by the agent's user`;
  if ((st.mode & 0o022) !== 0) return `${baseDir} is writable by group or others`;
  return undefined;
}

function tryConnect(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection({ path });
    const timer = setTimeout(() => {
      sock.destroy();
      resolve(false);
    }, PROBE_TIMEOUT_MS);
    sock.once("connect", () => {
      clearTimeout(timer);
      sock.end(); // sends nothing: the helper ignores it (the readiness probe)
      resolve(true);
    });
    sock.once("error", () => {
      clearTimeout(timer);
      sock.destroy();
      resolve(false);
    });
  });
}

/** Logs what the helper writes to stderr (one line per message), never more than 64 KiB per chunk. */
async function forwardStderr(stream: ReadableStream<Uint8Array>, log: Logger): Promise<void> {
  const decoder = new TextDecoder();
  let pending = "";
  for await (const chunk of stream) {
    pending += decoder.decode(chunk, { stream: true });
    const lines = pending.split("\n");
    pending = lines.pop() ?? "";
    for (const line of lines) if (line.trim()) log.warn("tunnel helper", { message: line.slice(0, 1024) });
    if (pending.length > 65_536) pending = "";
  }
}

export async function startRelay(
  deps: RelayDeps,
  sessionId: string,
  identity: Identity | undefined,
): Promise<RelayHelper | { error: string }> {
  const baseProblem = prepareBase(deps.baseDir);
  if (baseProblem) return { error: baseProblem };
  const dir = join(deps.baseDir, sessionId);
  // A leftover of a crashed agent; session ids are unique among live tunnels.
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { mode: 0o700 });
  if (identity) chownSync(dir, identity.uid, identity.gid);
  const socketPath = join(dir, SOCKET_NAME);
  const cleanup = () => {
    try {
      if (lstatSync(socketPath).isSocket()) unlinkSync(socketPath);
    } catch {
      // gone already
    }
    try {
      rmdirSync(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") deps.log.warn("could not remove the tunnel directory", { dir, error: err });
    }
  };
  const spawned = deps.spawnWorker({
    argv: deps.selfArgv([DAEMON_SUBCOMMAND, socketPath, formatPortList(deps.allowedPorts)]),
    ...(identity ? { identity } : {}),
    env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", LANG: "C.UTF-8" },
    cwd: "/",
    stdin: "pipe",
    groups: "clear",
    killGraceMs: STOP_GRACE_MS,
  });
  if ("error" in spawned) {
    cleanup();
    return { error: `cannot start the tunnel helper: ${spawned.error}` };
  }
  const worker: Worker = spawned;
  void forwardStderr(worker.stderr, deps.log).catch(() => {});
  void worker.stdout.cancel().catch(() => {});
  let exitedCode: number | undefined;
  const exited = worker.exited.then((code) => {
    exitedCode = code;
    return code;
  });

  let stopping: Promise<void> | undefined;
  const helper: RelayHelper = {
    pid: worker.pid,
    socketPath,
    exited,
    connect(port, first) {
      const conn = new ByteSocket();
      const head = Buffer.from(`127.0.0.1:${port}\n`, "latin1");
      conn.write(first.length > 0 ? Buffer.concat([head, first]) : head);
      Bun.connect({ unix: socketPath, allowHalfOpen: true, data: conn, socket: byteSocketHandler }).catch(() => conn.closedNow());
      return conn;
    },
    stop() {
      stopping ??= (async () => {
        try {
          worker.stdin?.end();
        } catch {
          // already closed
        }
        worker.kill();
        await exited;
        cleanup();
      })();
      return stopping;
    },
  };

  const start = deps.clock.monotonic();
  while (deps.clock.monotonic() - start < READY_WITHIN_MS) {
    if (exitedCode !== undefined) break;
    if (await tryConnect(socketPath)) return helper;
    await deps.clock.sleep(READY_POLL_MS);
  }
  await helper.stop();
  return {
    error:
      exitedCode !== undefined
        ? `the tunnel helper exited with ${exitedCode} before it was ready`
        : `the tunnel helper was not ready within ${READY_WITHIN_MS} ms`,
  };
}
