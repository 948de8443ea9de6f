// The `download` command (console → host): content from a URL (streamed), inline text or base64, written
// to disk by a worker running as the user, with atomic no-overwrite and safe unzip, then the stat report
// through the outbox. 2024 dialect: the path comes from the command line. Never holds a URL body in memory.
import type { FileSink } from "bun";
import { PRIORITY_COMMANDS } from "../../console/outbox/item.ts";
import type { InferOutput } from "valibot";
import { fail, ok, type CommandContext, type CommandResult } from "../../commands/contract.ts";
import type { FileCommandDeps } from "./deps.ts";
import { encodeFrames } from "./frames.ts";
import { collector } from "./memory.ts";
import { fetchTransfer, IDLE_TIMEOUT_MS, withIdleTimeout } from "./fetch-stream.ts";
import { DEFAULT_UNZIP_LIMITS } from "./unzip-limits.ts";
import { type DownloadData, statPath, type DownloadItem } from "./transfer-data.ts";
import { drainText, readLine, startWorker } from "./worker-client.ts";

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  if (bytes.length > 0) yield bytes;
}

type Source = { ok: true; chunks: AsyncIterable<Uint8Array> } | { ok: false; error: string };

async function contentOf(deps: FileCommandDeps, item: DownloadItem, signal: AbortSignal): Promise<Source> {
  const content = item.content ?? "";
  switch (item.type ?? "url") {
    case "text":
      return { ok: true, chunks: once(Buffer.from(content, "utf8")) };
    case "base64": {
      const compact = content.replace(/\s+/g, "");
      if (compact.length % 4 !== 0 || !BASE64.test(compact))
        return { ok: false, error: "failed to decode base64 content: not valid base64" };
      return { ok: true, chunks: once(Buffer.from(compact, "base64")) };
    }
    case "url": {
      if (!/^https?:\/\//i.test(content)) return { ok: false, error: "content must be an http(s) URL" };
      try {
        const response = await fetchTransfer(deps.http, content, { method: "GET", signal, userAgent: deps.userAgent });
        if (response.status < 200 || response.status > 299 || !response.body) {
          await response.body?.cancel();
          return { ok: false, error: `downloading content failed (HTTP ${response.status})` };
        }
        return { ok: true, chunks: withIdleTimeout(response.body, deps.idleTimeoutMs ?? IDLE_TIMEOUT_MS) };
      } catch (err) {
        return { ok: false, error: `downloading content failed: ${(err as Error).message}` };
      }
    }
  }
}

/** Feeds the worker's stdin chunk by chunk, waiting for the pipe so memory stays flat. Returns an error text. */
async function pump(source: ReadableStream<Uint8Array>, sink: FileSink): Promise<string | undefined> {
  const reader = source.getReader();
  const collect = collector();
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      sink.write(value);
      await sink.flush();
      collect(value.length);
    }
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
  const source = await contentOf(deps, item, ctx.signal);
  if (!source.ok) return fail(source.error);
  const home = identity.identity.home;
  const limits = deps.unzipLimits ?? DEFAULT_UNZIP_LIMITS;
  const job = { mode: "write" as const, home, path, overwrite: item.allow_overwrite === true, unzip: item.allow_unzip === true, limits };
  const worker = startWorker(deps, identity.identity, job, "pipe");
  if ("error" in worker) return fail(`download: cannot start the file worker: ${worker.error}`);
  const onAbort = () => worker.kill();
  ctx.signal.addEventListener("abort", onAbort, { once: true });
  try {
    const reader = worker.stdout.getReader();
    const pumped = pump(encodeFrames(source.chunks), worker.stdin!);
    const [first, errors, code] = await Promise.all([readLine(reader), drainText(worker.stderr), worker.exited]);
    const pumpError = await pumped;
    let outcome: { ok?: boolean; message?: string } = {};
    try {
      outcome = first ? JSON.parse(first.line) : {};
    } catch {
      // fall through to the generic failure below
    }
    if (code === 0 && outcome.ok) return ok(outcome.message ?? `Successfully downloaded ${path}.`);
    if (pumpError && !outcome.message) return fail(`downloading content failed: ${pumpError}`);
    return fail(outcome.message ?? `download: the file worker failed (exit ${code})${errors ? `: ${errors.trim().split("\n")[0]}` : ""}`);
  } finally {
    ctx.signal.removeEventListener("abort", onAbort);
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
