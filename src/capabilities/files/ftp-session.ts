// The `openftp` command: starts a file-manager worker as the user, dials the session's WebSocket from the
// agent (so the console's credentials and TLS settings never reach a user-owned process) and relays requests
// and replies line by line until either side ends. The fin says whether both really started.
import { fail, ok, type CommandContext, type CommandResult } from "../../commands/registry.ts";
import { dialWebSocket } from "../../console/http.ts";
import type { Worker } from "../../exec/worker.ts";
import type { FileCommandDeps } from "./deps.ts";
import { OpenFtpData, parseData } from "./transfer-data.ts";
import { drainText, readLine, startWorker, type ByteReader } from "./worker-client.ts";

const START_TIMEOUT_MS = 15_000;
const DIAL_TIMEOUT_MS = 10_000;
const MAX_REQUEST_BYTES = 1 << 20;
const PING_MS = 30_000;

/** The socket URL: an absolute ws(s) URL on the console's origin, or a path joined to the server's ws URL. */
export function ftpSocketUrl(raw: string, serverUrl: string, isConsoleOrigin: (u: string) => boolean): string | undefined {
  if (/^wss?:\/\//i.test(raw)) return isConsoleOrigin(raw) ? raw : undefined;
  if (raw.startsWith("/") && !raw.startsWith("//")) return serverUrl.replace(/^http/, "ws").replace(/\/+$/, "") + raw;
  return undefined;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what} timed out`)), ms)));
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export class FtpSessions {
  private readonly live = new Set<() => void>();

  constructor(private readonly deps: FileCommandDeps) {
    deps.signal?.addEventListener("abort", () => this.closeAll(), { once: true });
  }

  get count(): number {
    return this.live.size;
  }

  closeAll(): void {
    for (const close of [...this.live]) close();
  }

  async open(ctx: CommandContext): Promise<CommandResult> {
    const parsed = parseData("openftp", OpenFtpData, ctx.data);
    if (!parsed.ok) return fail(parsed.error);
    const d = parsed.data;
    const user = d.username || ctx.user || "";
    if (!user) return fail("openftp: Not enough information. username is required");
    const url = ftpSocketUrl(d.url, this.deps.http.serverUrl, (u) => this.deps.http.isConsoleOrigin(u));
    if (!url) return fail("openftp: url must be a path or a ws(s) URL on the console's own host");
    const identity = await this.deps.resolveIdentity(user, d.groupname || ctx.group || null);
    if (!identity.ok) return fail(`openftp: Failed to get demoted permission. ${identity.error}`);

    const worker = startWorker(this.deps, identity.identity, { mode: "ftp", home: identity.identity.home }, "pipe");
    if ("error" in worker) return fail(`openftp: Failed to start ftp worker process. ${worker.error}`);
    const errors = drainText(worker.stderr);
    const reader = worker.stdout.getReader();
    try {
      const ready = await withTimeout(readLine(reader), START_TIMEOUT_MS, "worker start");
      if (!ready || !/"ready":true/.test(ready.line)) throw new Error((await errors).trim().split("\n")[0] || "the worker exited");
    } catch (err) {
      worker.kill();
      return fail(`openftp: Failed to start ftp worker process. ${(err as Error).message}`);
    }

    let ws: WebSocket | undefined;
    try {
      const socket = dialWebSocket(this.deps.http, url);
      ws = socket;
      await withTimeout(
        new Promise<void>((resolve, reject) => {
          socket.addEventListener("open", () => resolve(), { once: true });
          socket.addEventListener("error", () => reject(new Error("connection failed")), { once: true });
          socket.addEventListener("close", (ev) => reject(new Error(`closed with ${ev.code}`)), { once: true });
        }),
        DIAL_TIMEOUT_MS,
        "connection",
      );
    } catch (err) {
      worker.kill();
      try {
        ws?.close();
      } catch {
        // never opened
      }
      return fail(`openftp: Failed to connect to the file manager socket: ${(err as Error).message}`);
    }
    this.relay(ws, worker, reader, ctx.log);
    ctx.log.info("ftp session started", { session: d.session_id, user: identity.identity.user });
    return ok("Spawned a ftp terminal.");
  }

  private relay(ws: WebSocket, worker: Worker, reader: ByteReader, log: CommandContext["log"]): void {
    let closed = false;
    const ping = setInterval(() => {
      try {
        ws.ping();
      } catch {
        // closing
      }
    }, PING_MS);
    const close = () => {
      if (closed) return;
      closed = true;
      this.live.delete(close);
      clearInterval(ping);
      try {
        ws.close(1000);
      } catch {
        // already closed
      }
      try {
        worker.stdin?.end();
      } catch {
        // already gone
      }
      // The worker ends on EOF; a long operation in progress is cut short after a grace period.
      setTimeout(() => worker.kill(), 5_000).unref?.();
    };
    this.live.add(close);
    ws.addEventListener("message", (ev) => {
      const text = typeof ev.data === "string" ? ev.data : Buffer.from(ev.data as ArrayBuffer).toString("utf8");
      if (text.length > MAX_REQUEST_BYTES) {
        ws.send(JSON.stringify({ command: "", success: false, code: 550, data: { message: "request too large" } }));
        return;
      }
      // Raw newlines are only whitespace in JSON, so flattening keeps valid JSON valid and one request per line.
      try {
        worker.stdin?.write(`${text.replace(/[\r\n]+/g, " ")}\n`);
        void Promise.resolve(worker.stdin?.flush()).catch(() => close());
      } catch {
        close(); // the worker is gone
      }
    });
    ws.addEventListener("close", close);
    ws.addEventListener("error", close);
    void (async () => {
      const decoder = new TextDecoder();
      let buffered = "";
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done || !value) break;
          buffered += decoder.decode(value, { stream: true });
          for (let nl = buffered.indexOf("\n"); nl >= 0; nl = buffered.indexOf("\n")) {
            if (!closed) ws.send(buffered.slice(0, nl));
            buffered = buffered.slice(nl + 1);
          }
        }
      } catch (err) {
        log.warn("ftp worker output failed", { error: err });
      }
      const code = await worker.exited;
      if (code !== 0 && !closed) log.warn("ftp worker ended", { exitCode: code });
      close();
    })();
  }
}
