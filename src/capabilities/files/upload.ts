// The `upload` command (host → console): a worker running as the user reads one file as it is, or zips a
// directory or several paths on the fly; the bytes stream into a multipart POST (field `content`, plus
// `name` for a single directory) or a PUT when `use_blob`. Any 2xx succeeds; the stat goes through the outbox.
// Never writes a temporary archive and never sends the console's credentials to another origin.
import { PRIORITY_COMMANDS } from "../../console/outbox/item.ts";
import type { InferOutput } from "valibot";
import { fail, ok, type CommandContext, type CommandResult } from "../../commands/contract.ts";
import type { FileCommandDeps } from "./deps.ts";
import { collector } from "./memory.ts";
import { fetchTransfer, IDLE_TIMEOUT_MS, IdleWatchdog } from "./fetch-stream.ts";
import { statPath, type UploadData } from "./transfer-data.ts";
import { type ByteReader, drainText, readLine, startWorker } from "./worker-client.ts";

interface Header {
  ok: boolean;
  name?: string;
  size?: number | null;
  zip?: boolean;
  message?: string;
}

/** HTML's multipart rule for names in quotes: '"' → %22, CR → %0D, LF → %0A. */
function quoteName(name: string): string {
  return name.replace(/"/g, "%22").replace(/\r/g, "%0D").replace(/\n/g, "%0A");
}

/**
 * The request body in one stream, pulled by fetch as the socket takes it: `pre`, the worker's bytes (those
 * already read with its header line first), then `post`. Nothing is queued (highWaterMark 0): one read of the
 * worker's pipe at a time, handed on as it is (gathering reads into bigger chunks was measured: no less CPU,
 * twice the RSS growth; BENCHMARKS.md). It ends only once the worker has exited cleanly and errors otherwise,
 * so a console never receives a complete request for a file that could not be read. One watchdog stops a
 * worker that sends nothing for `idleMs`.
 */
function requestBody(
  reader: ByteReader,
  first: Uint8Array,
  pre: Uint8Array,
  post: Uint8Array,
  idleMs: number,
  workerDone: () => Promise<void>,
): ReadableStream<Uint8Array> {
  const watchdog = new IdleWatchdog(idleMs, () => void reader.cancel().catch(() => {}));
  const collect = collector();
  let head: Uint8Array | undefined = first.length > 0 ? Buffer.concat([pre, first]) : pre;
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        if (head) {
          const bytes = head;
          head = undefined;
          if (bytes.length > 0) return controller.enqueue(bytes);
        }
        try {
          watchdog.wait();
          const { done, value } = await reader.read();
          watchdog.progress();
          if (watchdog.expired) throw watchdog.error();
          if (!done && value) {
            controller.enqueue(value);
            collect(value.length);
            return;
          }
          watchdog.stop();
          await workerDone();
          if (post.length > 0) controller.enqueue(post);
          controller.close();
        } catch (err) {
          watchdog.stop();
          throw err;
        }
      },
      async cancel(reason) {
        watchdog.stop();
        await reader.cancel(reason).catch(() => {});
      },
    },
    { highWaterMark: 0 },
  );
}

export async function runUpload(deps: FileCommandDeps, d: InferOutput<typeof UploadData>, ctx: CommandContext): Promise<CommandResult> {
  const result = await uploadOnce(deps, ctx, d);
  const stat = statPath(d.url, (u) => deps.http.isConsoleOrigin(u));
  if (stat)
    deps.enqueue({
      method: "POST",
      path: stat,
      priority: PRIORITY_COMMANDS,
      body: { success: result.exitCode === 0, message: result.result, type: "download" },
    });
  return result;
}

async function uploadOnce(deps: FileCommandDeps, ctx: CommandContext, d: InferOutput<typeof UploadData>): Promise<CommandResult> {
  const paths = d.paths && d.paths.length > 0 ? d.paths : ctx.args[0] ? [ctx.args[0]] : [];
  if (paths.length === 0) return fail("No paths provided");
  if (!/^https?:\/\//i.test(d.content)) return fail("upload: content must be an http(s) URL");
  const user = d.username || ctx.user || "";
  if (!user) return fail("upload: username is required");
  const identity = await deps.resolveIdentity(user, d.groupname || ctx.group || null);
  if (!identity.ok) return fail(`upload: ${identity.error}`);

  const worker = startWorker(deps, identity.identity, { mode: "read", home: identity.identity.home, paths }, "ignore");
  if ("error" in worker) return fail(`upload: cannot start the file worker: ${worker.error}`);
  const errors = drainText(worker.stderr);
  const abort = new AbortController();
  const onAbort = () => {
    abort.abort();
    worker.kill();
  };
  ctx.signal.addEventListener("abort", onAbort, { once: true });
  try {
    const reader = worker.stdout.getReader();
    const first = await readLine(reader);
    let header: Header = { ok: false };
    try {
      header = first ? JSON.parse(first.line) : header;
    } catch {
      // reported below
    }
    if (!first || !header.ok || !header.name) {
      const code = await worker.exited;
      return fail(header.message ?? `upload: the file worker failed (exit ${code}): ${(await errors).trim().split("\n")[0] ?? ""}`);
    }
    const name = header.name;
    const workerDone = async () => {
      const code = await worker.exited;
      if (code !== 0) throw new Error(`reading failed: ${(await errors).trim().split("\n")[0] ?? `exit ${code}`}`);
    };
    const size = typeof header.size === "number" ? header.size : undefined;
    let headers: Record<string, string>;
    let pre: Uint8Array = new Uint8Array(0);
    let post: Uint8Array = new Uint8Array(0);
    if (d.use_blob) {
      headers = { "Content-Type": "application/octet-stream", ...(size !== undefined ? { "Content-Length": String(size) } : {}) };
    } else {
      const boundary = `alpamon-${crypto.randomUUID()}`;
      const nameField =
        header.zip && paths.length === 1 ? `--${boundary}\r\nContent-Disposition: form-data; name="name"\r\n\r\n${name}\r\n` : "";
      pre = Buffer.from(
        `${nameField}--${boundary}\r\nContent-Disposition: form-data; name="content"; filename="${quoteName(name)}"\r\nContent-Type: application/octet-stream\r\n\r\n`,
      );
      post = Buffer.from(`\r\n--${boundary}--\r\n`);
      headers = {
        "Content-Type": `multipart/form-data; boundary=${boundary}`,
        ...(size !== undefined ? { "Content-Length": String(pre.length + size + post.length) } : {}),
      };
    }
    const body = requestBody(reader, first.rest, pre, post, deps.idleTimeoutMs ?? IDLE_TIMEOUT_MS, workerDone);
    let status: number;
    try {
      const response = await fetchTransfer(deps.http, d.content, {
        method: d.use_blob ? "PUT" : "POST",
        headers,
        body,
        signal: abort.signal,
        userAgent: deps.userAgent,
      });
      status = response.status;
      await response.body?.cancel().catch(() => {});
    } catch (err) {
      worker.kill();
      const why = (await worker.exited) !== 0 ? (await errors).trim().split("\n")[0] : (err as Error).message;
      return fail(`upload: sending ${name} failed: ${why || (err as Error).message}`);
    }
    if (status < 200 || status > 299) {
      worker.kill();
      return fail(`upload: the console answered HTTP ${status} for ${name}`);
    }
    if ((await worker.exited) !== 0) return fail(`upload: reading ${name} failed: ${(await errors).trim().split("\n")[0] ?? ""}`);
    return ok(`Successfully uploaded ${ctx.args[0] ?? name}.`);
  } finally {
    ctx.signal.removeEventListener("abort", onAbort);
  }
}
