// Backpressure end to end (issue 23): a worker that cannot write (stopped, like a stalled disk) holds the HTTP
// body back instead of the agent queueing it, and a console that stops reading holds the worker back instead
// of the worker reading the whole file ahead; neither counts as an idle transfer while the other side is
// slow, and a source that really goes quiet is stopped by the idle watchdog. The worker sleeps in write(2)
// while its pipe is full (no polling). Real worker as a test user; loopback servers in this process.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { closeSync, existsSync, openSync, readdirSync, readFileSync, readlinkSync, writeSync } from "node:fs";
import { join } from "node:path";
import type { Socket, TCPSocketListener } from "bun";
import { fileCommands } from "../../../src/capabilities/files/commands.ts";
import { ConsoleHttp } from "../../../src/console/http.ts";
import { spawnWorker } from "../../../src/exec/worker.ts";
import { LogHub } from "../../../src/log/logger.ts";
import { eventually } from "../../console/fake-console-waits.ts";
import { runnable } from "../../helpers/commands.ts";
import { context, sh, useTestUsers, useWorkerArgv } from "./helpers.ts";

const isRoot = process.getuid?.() === 0;
const MiB = 1024 * 1024;
const SIZE = 256 * MiB;
/** What may sit in the kernel's socket and pipe buffers and in Bun's own while one side is stopped. */
const HELD_LIMIT = 64 * MiB;
const IDLE_MS = 1_000;
const newUser = useTestUsers();
const testWorkerArgv = useWorkerArgv();
const log = new LogHub({ write: () => {}, close: () => {} }).logger();

/** A fixed 1 MiB pattern: the blob is this, repeated. */
const PATTERN = crypto.getRandomValues(new Uint8Array(MiB));
function blobSha256(size: number): string {
  const hash = new Bun.CryptoHasher("sha256");
  for (let off = 0; off < size; off += MiB) hash.update(PATTERN.subarray(0, Math.min(MiB, size - off)));
  return hash.digest("hex");
}

let user: { name: string; home: string; uid: number };
let server: ReturnType<typeof Bun.serve>;
let sent = 0;
let holder: TCPSocketListener<undefined>;
/** Bun.serve sends a streamed body chunked whatever Content-Length says: this one writes HTTP by hand. */
let raw: TCPSocketListener<RawState>;
interface RawState {
  request: string;
  /** Body bytes still to write before `after` (end: close the connection; hang: stay open and silent). */
  left: number;
  after: "end" | "hang";
}
const held: Socket<undefined>[] = [];
/** Whether the holder leaves new connections unread; when false it reads and drops what it is sent. */
let holding = true;
const workers: number[] = [];

beforeAll(() => {
  if (!isRoot) return;
  user = newUser();
  server = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    idleTimeout: 60,
    fetch(req) {
      const path = new URL(req.url).pathname;
      if (path === "/stall") {
        // 64 KiB, then nothing: the body stays open and silent.
        return new Response(
          new ReadableStream({
            start(c) {
              c.enqueue(PATTERN.slice(0, 64 * 1024));
            },
          }),
        );
      }
      if (path === "/cut") {
        // 8 MiB, then the connection drops.
        let pulls = 0;
        return new Response(
          new ReadableStream(
            {
              async pull(c) {
                if (pulls++ < 8) return c.enqueue(PATTERN.slice());
                c.error(new Error("gone"));
              },
            },
            { highWaterMark: 0 },
          ),
        );
      }
      sent = 0;
      return new Response(
        new ReadableStream<Uint8Array>(
          {
            pull(c) {
              if (sent >= SIZE) return c.close();
              const n = Math.min(MiB, SIZE - sent);
              c.enqueue(PATTERN.slice(0, n));
              sent += n;
            },
          },
          { highWaterMark: 0 },
        ),
      );
    },
  });
  raw = Bun.listen<RawState>({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(socket) {
        socket.data = { request: "", left: 0, after: "end" };
      },
      data(socket, bytes) {
        const state = socket.data;
        state.request += bytes.toString("latin1");
        if (!state.request.includes("\r\n\r\n")) return;
        const path = /^GET (\S+)/.exec(state.request)?.[1] ?? "";
        state.request = "\0"; // answered
        const plan: Record<string, [number, RawState["after"]]> = {
          "/blob": [SIZE, "end"],
          "/stall": [64 * 1024, "hang"],
          "/cut": [8 * MiB, "end"],
        };
        const [left, after] = plan[path] ?? [0, "end"];
        Object.assign(state, { left, after });
        sent = 0;
        socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${SIZE}\r\nContent-Type: application/octet-stream\r\n\r\n`);
        rawWrite(socket);
      },
      drain: (socket) => rawWrite(socket),
    },
  });
  // A "console" that accepts the upload's connection and never reads from it.
  holder = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(socket) {
        if (holding) socket.pause();
        held.push(socket);
      },
      data() {},
    },
  });
});

/** Writes the pattern while the socket takes it; `drain` calls again. Counts what the kernel accepted. */
function rawWrite(socket: Socket<RawState>): void {
  const state = socket.data;
  while (state.left > 0) {
    const offset = sent % MiB;
    const n = socket.write(PATTERN.subarray(offset, offset + Math.min(MiB - offset, state.left)));
    sent += n;
    state.left -= n;
    if (n === 0) return;
  }
  if (state.after === "end") socket.end();
}

afterAll(() => {
  server?.stop(true);
  for (const socket of held) socket.end();
  holder?.stop(true);
  raw?.stop(true);
});

function handlers(idleTimeoutMs = IDLE_MS) {
  const http = new ConsoleHttp({
    serverUrl: "http://127.0.0.1:9",
    id: "i",
    key: "k",
    tls: { rejectUnauthorized: true },
    userAgent: "alpamon/test",
    log,
  });
  const spawn: typeof spawnWorker = (options) => {
    const worker = spawnWorker(options);
    if (!("error" in worker)) workers.push(worker.pid);
    return worker;
  };
  return runnable(
    fileCommands({ http, enqueue: () => 1, userAgent: "alpamon/test", log, workerArgv: testWorkerArgv, spawnWorker: spawn, idleTimeoutMs }),
  );
}

/** `eventually` (fake-console-waits.ts) with a 30 s bound. */
const until = <T>(what: string, check: () => T | undefined | false, timeoutMs = 30_000): Promise<T> => eventually(check, timeoutMs, what);

/** utime + stime of a process, in ms (0 once it is gone). */
function cpuMs(pid: number): number {
  if (!existsSync(`/proc/${pid}`)) return 0;
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(f[11]) + Number(f[12])) * 10;
}

/** The offset of `pid`'s open file descriptor on `path` (how far it has read); Infinity once it is gone. */
function offsetIn(pid: number, path: string): number | undefined {
  if (!existsSync(`/proc/${pid}`)) return Number.POSITIVE_INFINITY; // it read everything and left
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      if (readlinkSync(`/proc/${pid}/fd/${fd}`) !== path) continue;
      return Number(/^pos:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, "utf8"))?.[1]);
    } catch {
      // closed meanwhile
    }
  }
  return undefined;
}

/** A route with a Content-Length (the hand-written server: the body is piped to the worker by Bun) or chunked. */
const BODIES = [
  ["with a Content-Length (piped to the worker by Bun)", (route: string) => `http://127.0.0.1:${raw.port}/${route}`],
  ["chunked (framed by the agent)", (route: string) => `${server.url}${route}`],
] as const;

/** ~/up.bin, SIZE bytes owned by the user, made once. */
function bigUserFile(): string {
  const path = join(user.home, "up.bin");
  if (existsSync(path)) return path;
  const fd = openSync(path, "w");
  for (let off = 0; off < SIZE; off += MiB) writeSync(fd, PATTERN);
  closeSync(fd);
  sh(["chown", `${user.name}:${user.name}`, path]);
  return path;
}

const leftovers = () => readdirSync(user.home).filter((name) => name.includes(".alpamon-"));

describe.skipIf(!isRoot)("backpressure and idle time through the file worker", () => {
  test.each(BODIES)(
    "a stopped worker holds the HTTP body back (bounded, not queued), is not idle, and the file is whole: %s",
    async (_, url) => {
      const h = handlers();
      const before = workers.length;
      const done = h.download!.run(
        context("download", {
          username: user.name,
          type: "url",
          content: url("blob"),
          path: "~/held.bin",
          allow_overwrite: true,
        }),
      );
      const pid = await until("the worker", () => workers.length > before && workers.at(-1));
      await until("the first bytes", () => sent >= 4 * MiB);
      process.kill(pid, "SIGSTOP");
      try {
        await Bun.sleep(2.5 * IDLE_MS); // longer than the idle timeout: waiting for the disk is not idle
        const whileStopped = sent;
        await Bun.sleep(500);
        console.log(`sent while the worker was stopped: ${(whileStopped / MiB).toFixed(1)} MiB of ${SIZE / MiB} MiB`);
        expect(sent).toBe(whileStopped); // the server is held back, not drained into memory
        expect(whileStopped).toBeLessThan(HELD_LIMIT);
      } finally {
        process.kill(pid, "SIGCONT");
      }
      expect(await done).toEqual({ exitCode: 0, result: `Successfully downloaded ${join(user.home, "held.bin")}.` });
      const hash = new Bun.CryptoHasher("sha256");
      for await (const chunk of Bun.file(join(user.home, "held.bin")).stream()) hash.update(chunk);
      expect(hash.digest("hex")).toBe(blobSha256(SIZE));
    },
    120_000,
  );

  test("a console that stops reading holds the worker back; the worker sleeps in write(2) meanwhile", async () => {
    const path = bigUserFile();
    const h = handlers(60_000);
    const abort = new AbortController();
    const before = workers.length;
    const done = h.upload!.run(
      context(
        "upload",
        { username: user.name, paths: ["up.bin"], content: `http://127.0.0.1:${holder.port}/up` },
        { signal: abort.signal },
      ),
    );
    const pid = await until("the worker", () => workers.length > before && workers.at(-1));
    // Wait until the pipes and socket buffers are full: the worker's read offset stops moving for 300 ms.
    let offset = 0;
    let since = Date.now();
    await until("the worker to block", () => {
      const now = offsetIn(pid, path) ?? 0;
      if (now !== offset) {
        offset = now;
        since = Date.now();
      }
      return now > 0 && Date.now() - since >= 300;
    });
    const cpu0 = cpuMs(pid);
    await Bun.sleep(1_000);
    const blockedCpu = cpuMs(pid) - cpu0;
    const after = offsetIn(pid, path) ?? 0;
    console.log(`worker read ${(after / MiB).toFixed(1)} MiB of ${SIZE / MiB} MiB, then used ${blockedCpu} ms of CPU in 1 s while blocked`);
    expect(after).toBe(offset);
    expect(after).toBeLessThan(HELD_LIMIT);
    expect(blockedCpu).toBeLessThan(20); // polling the full pipe every millisecond costs about 50 ms a second
    abort.abort();
    expect((await done).exitCode).toBe(1);
  }, 120_000);

  test.each(BODIES)(
    "a body that goes quiet is stopped after the idle time; nothing is left behind: %s",
    async (_, url) => {
      const t0 = Date.now();
      const r = await handlers().download!.run(
        context("download", { username: user.name, type: "url", content: url("stall"), path: "~/stalled.bin" }),
      );
      expect(r).toEqual({ exitCode: 1, result: "downloading content failed: no data for 1 s" });
      expect(Date.now() - t0).toBeLessThan(10_000);
      expect(existsSync(join(user.home, "stalled.bin"))).toBe(false);
      expect(leftovers()).toEqual([]);
    },
    30_000,
  );

  test.each(BODIES)(
    "a body cut short fails at once and writes nothing: %s",
    async (_, url) => {
      const t0 = Date.now();
      const r = await handlers(60_000).download!.run(
        context("download", { username: user.name, type: "url", content: url("cut"), path: "~/cut.bin" }),
      );
      console.log(`cut short: ${r.result} after ${Date.now() - t0} ms`);
      expect(r.exitCode).toBe(1);
      expect(r.result).toStartWith("downloading content failed: ");
      expect(Date.now() - t0).toBeLessThan(10_000);
      expect(existsSync(join(user.home, "cut.bin"))).toBe(false);
      expect(leftovers()).toEqual([]);
    },
    30_000,
  );

  test("a worker that goes quiet mid-upload is stopped after the idle time", async () => {
    holding = false;
    bigUserFile();
    const before = workers.length;
    const h = handlers();
    const done = h.upload!.run(
      context("upload", { username: user.name, paths: ["up.bin"], content: `http://127.0.0.1:${holder.port}/quiet` }),
    );
    const pid = await until("the worker", () => workers.length > before && workers.at(-1));
    await until("the worker to start reading", () => (offsetIn(pid, join(user.home, "up.bin")) ?? 0) > 0);
    process.kill(pid, "SIGSTOP");
    try {
      // The console reads everything, so the agent drains the pipe and then waits on a silent worker.
      const r = await done;
      expect(r.exitCode).toBe(1);
      expect(r.result).toStartWith("upload: sending up.bin failed");
    } finally {
      try {
        process.kill(pid, "SIGCONT");
      } catch {
        // already stopped for good by the agent
      }
    }
  }, 60_000);
});
