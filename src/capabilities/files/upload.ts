// The `upload` command (host → console): a worker running as the user reads one file as it is, or zips a
// directory or several paths on the fly; the bytes stream into a multipart POST (field `content`, plus
// `name` for a single directory) or a PUT when `use_blob`. Any 2xx succeeds; the stat goes through the outbox.
// Never writes a temporary archive and never sends the console's credentials to another origin.
import { PRIORITY_COMMANDS } from "../../console/outbox/item.ts";
import type { InferOutput } from "valibot";
import { fail, ok, type CommandContext, type CommandResult } from "../../commands/contract.ts";
import type { FileCommandDeps } from "./deps.ts";
import { collector } from "./memory.ts";
import { fetchTransfer, IDLE_TIMEOUT_MS, withIdleTimeout } from "./fetch-stream.ts";
import { statPath, type UploadData } from "./transfer-data.ts";
import { drainText, readLine, restOf, startWorker } from "./worker-client.ts";

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

function concatStreams(parts: (Uint8Array | AsyncIterable<Uint8Array>)[], check: () => Promise<void>): ReadableStream<Uint8Array> {
  const collect = collector();
  const it = (async function* () {
    for (const part of parts) {
      if (part instanceof Uint8Array) yield part;
      else yield* part;
    }
    await check();
  })();
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const next = await it.next();
        if (next.done) return controller.close();
        controller.enqueue(next.value);
        collect(next.value.length);
      },
      async cancel(reason) {
        await it.return?.(reason);
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
    const data = withIdleTimeout(restOf(reader, first.rest), deps.idleTimeoutMs ?? IDLE_TIMEOUT_MS);
    const workerDone = async () => {
      const code = await worker.exited;
      if (code !== 0) throw new Error(`reading failed: ${(await errors).trim().split("\n")[0] ?? `exit ${code}`}`);
    };
    const size = typeof header.size === "number" ? header.size : undefined;
    let headers: Record<string, string>;
    let body: ReadableStream<Uint8Array>;
    if (d.use_blob) {
      headers = { "Content-Type": "application/octet-stream", ...(size !== undefined ? { "Content-Length": String(size) } : {}) };
      body = concatStreams([data], workerDone);
    } else {
      const boundary = `alpamon-${crypto.randomUUID()}`;
      const nameField =
        header.zip && paths.length === 1 ? `--${boundary}\r\nContent-Disposition: form-data; name="name"\r\n\r\n${name}\r\n` : "";
      const pre = Buffer.from(
        `${nameField}--${boundary}\r\nContent-Disposition: form-data; name="content"; filename="${quoteName(name)}"\r\nContent-Type: application/octet-stream\r\n\r\n`,
      );
      const post = Buffer.from(`\r\n--${boundary}--\r\n`);
      headers = {
        "Content-Type": `multipart/form-data; boundary=${boundary}`,
        ...(size !== undefined ? { "Content-Length": String(pre.length + size + post.length) } : {}),
      };
      body = concatStreams([pre, data, post], workerDone);
    }
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
