// The `download` command (console → host): content from a URL (streamed), inline text or base64, written
// to disk by a worker running as the user, with atomic no-overwrite and safe unzip, then the stat report
// through the outbox. 2024 dialect: the path comes from the command line. Never holds a URL body in memory.
import type { FileSink } from "bun";
import { PRIORITY_COMMANDS } from "../../console/outbox/item.ts";
import type { InferOutput } from "valibot";
import { fail, ok, type CommandContext, type CommandResult } from "../../commands/contract.ts";
import type { FileCommandDeps } from "./deps.ts";
import { frameHeader, MAX_FRAME } from "./frames.ts";
import { collector } from "./memory.ts";
import { fetchTransfer, IDLE_TIMEOUT_MS, IdleWatchdog } from "./fetch-stream.ts";
import { DEFAULT_UNZIP_LIMITS } from "./unzip-limits.ts";
import { type DownloadData, statPath, type DownloadItem } from "./transfer-data.ts";
import { drainText, readLine, startWorker } from "./worker-client.ts";

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * What a download writes: a body still arriving (url) or bytes already here (text, base64). `size` is set when
 * the body's length is known exactly (Content-Length, no Content-Encoding): the body then goes to the worker's
 * stdin as it is, piped by Bun without passing through JavaScript, and the worker checks the length.
 */
type Content = { body: ReadableStream<Uint8Array>; size?: number } | { bytes: Uint8Array };
type Source = ({ ok: true } & Content) | { ok: false; error: string };

async function contentOf(deps: FileCommandDeps, item: DownloadItem, signal: AbortSignal): Promise<Source> {
  const content = item.content ?? "";
  switch (item.type ?? "url") {
    case "text":
      return { ok: true, bytes: Buffer.from(content, "utf8") };
    case "base64": {
      const compact = content.replace(/\s+/g, "");
      if (compact.length % 4 !== 0 || !BASE64.test(compact))
        return { ok: false, error: "failed to decode base64 content: not valid base64" };
      return { ok: true, bytes: Buffer.from(compact, "base64") };
    }
    case "url": {
      if (!/^https?:\/\//i.test(content)) return { ok: false, error: "content must be an http(s) URL" };
      try {
        const response = await fetchTransfer(deps.http, content, { method: "GET", signal, userAgent: deps.userAgent });
        if (response.status < 200 || response.status > 299 || !response.body) {
          await response.body?.cancel();
          return { ok: false, error: `downloading content failed (HTTP ${response.status})` };
        }
        const length = response.headers.get("content-length");
        const encoding = response.headers.get("content-encoding");
        const exact = length !== null && /^\d+$/.test(length) && (!encoding || encoding.toLowerCase() === "identity");
        return { ok: true, body: response.body, ...(exact ? { size: Number(length) } : {}) };
      } catch (err) {
        return { ok: false, error: `downloading content failed: ${(err as Error).message}` };
      }
    }
  }
}

/** Writes `chunk` as frames, then waits until the pipe has taken it: the sink never holds more than one chunk. */
async function writeFramed(sink: FileSink, chunk: Uint8Array): Promise<void> {
  for (let off = 0; off < chunk.length; off += MAX_FRAME) {
    const part = chunk.subarray(off, off + MAX_FRAME);
    sink.write(frameHeader(part.length));
    sink.write(part);
  }
  const pending = sink.flush();
  if (typeof pending !== "number") await pending;
}

/**
 * Feeds the worker's stdin: each chunk of the HTTP body is framed and flushed into the pipe before the next one
 * is read, so a slow disk slows the socket instead of growing memory (nothing is queued between the body, the
 * pipe and the worker's fixed read buffer; gathering chunks into bigger writes was measured: no less CPU, more
 * RSS). One watchdog per transfer stops a body that sends nothing for `idleMs`. The end marker is written only
 * after the body ended cleanly. Returns an error text.
 */
async function pump(content: Content, sink: FileSink, idleMs: number): Promise<string | undefined> {
  if ("bytes" in content) {
    try {
      if (content.bytes.length > 0) await writeFramed(sink, content.bytes);
      sink.write(frameHeader(0));
      await sink.end();
      return undefined;
    } catch (err) {
      return (err as Error).message;
    }
  }
  const reader = content.body.getReader();
  const watchdog = new IdleWatchdog(idleMs, () => void reader.cancel().catch(() => {}));
  const collect = collector();
  try {
    for (;;) {
      watchdog.wait();
      const { done, value } = await reader.read();
      watchdog.progress();
      if (watchdog.expired) throw watchdog.error();
      if (done) break;
      await writeFramed(sink, value);
      collect(value.length);
    }
    sink.write(frameHeader(0));
    await sink.end();
    return undefined;
  } catch (err) {
    await reader.cancel(err).catch(() => {});
    try {
      await sink.end();
    } catch {
      // the worker is gone
    }
    return (err as Error).message;
  } finally {
    watchdog.stop();
  }
}

async function downloadOne(
  deps: FileCommandDeps,
  ctx: CommandContext,
  item: DownloadItem,
  user: string,
  group: string | null,
): Promise<CommandResult> {
  const path = item.path || ctx.args[0] || "";
  if (!path) return fail("download: no file path was given");
  if (!user) return fail("download: username is required");
  const identity = await deps.resolveIdentity(user, group);
  if (!identity.ok) return fail(`download: ${identity.error}`);
  // Aborted with the command, and once the worker is gone (a worker that failed early must not leave the body
  // streaming into a closed pipe).
  const transfer = new AbortController();
  const onAbort = () => transfer.abort();
  ctx.signal.addEventListener("abort", onAbort, { once: true });
  try {
    const source = await contentOf(deps, item, transfer.signal);
    if (!source.ok) return fail(source.error);
    const home = identity.identity.home;
    const limits = deps.unzipLimits ?? DEFAULT_UNZIP_LIMITS;
    const idleMs = deps.idleTimeoutMs ?? IDLE_TIMEOUT_MS;
    const raw = "body" in source && source.size !== undefined ? { size: source.size, idleMs } : undefined;
    const job = {
      mode: "write" as const,
      home,
      path,
      overwrite: item.allow_overwrite === true,
      unzip: item.allow_unzip === true,
      limits,
      ...raw,
    };
    const worker = startWorker(deps, identity.identity, job, raw && "body" in source ? source.body : "pipe");
    if ("error" in worker) {
      if ("body" in source) await source.body.cancel().catch(() => {});
      return fail(`download: cannot start the file worker: ${worker.error}`);
    }
    const kill = () => worker.kill();
    transfer.signal.addEventListener("abort", kill, { once: true });
    void worker.exited.then(() => transfer.signal.removeEventListener("abort", kill)); // never signal a reaped group
    const reader = worker.stdout.getReader();
    const pumped = raw ? Promise.resolve(undefined) : pump(source, worker.stdin!, idleMs);
    const [first, errors, code] = await Promise.all([readLine(reader), drainText(worker.stderr), worker.exited]);
    const pumpError = await pumped;
    let outcome: { ok?: boolean; message?: string; input?: string } = {};
    try {
      outcome = first ? JSON.parse(first.line) : {};
    } catch {
      // fall through to the generic failure below
    }
    if (code === 0 && outcome.ok) return ok(outcome.message ?? `Successfully downloaded ${path}.`);
    // The input failed (cut short, silent): the agent's reason, when it has one, says why.
    if (outcome.input) return fail(`downloading content failed: ${pumpError ?? outcome.input}`);
    if (pumpError && !outcome.message) return fail(`downloading content failed: ${pumpError}`);
    return fail(outcome.message ?? `download: the file worker failed (exit ${code})${errors ? `: ${errors.trim().split("\n")[0]}` : ""}`);
  } finally {
    ctx.signal.removeEventListener("abort", onAbort);
    transfer.abort();
  }
}

export async function runDownload(deps: FileCommandDeps, d: InferOutput<typeof DownloadData>, ctx: CommandContext): Promise<CommandResult> {
  const topUser = d.username || ctx.user || "";
  const topGroup = d.groupname || ctx.group || null;
  const items = d.files && d.files.length > 0 ? d.files : [d];
  const failures: string[] = [];
  let last: CommandResult = ok("");
  for (const item of items) {
    last = await downloadOne(deps, ctx, item, item.username || topUser, item.groupname || topGroup);
    if (last.exitCode !== 0) failures.push(last.result);
    const stat = statPath(item.url, (u) => deps.http.isConsoleOrigin(u));
    if (stat) {
      deps.enqueue({
        method: "POST",
        path: stat,
        priority: PRIORITY_COMMANDS,
        body: { success: last.exitCode === 0, message: last.result, type: "upload" },
      });
    }
  }
  if (items.length === 1) return last;
  if (failures.length > 0) return fail(`${failures.length} of ${items.length} files failed: ${failures[0]}`);
  return ok(`Successfully downloaded ${ctx.args[0] ?? `${items.length} files`}.`);
}
