// The agent's side of a file worker: starts it as the user with its job in the environment, and reads its
// JSON lines (a header before a byte stream, or replies in ftp mode). Never puts credentials in the job.
import type { Identity } from "../../exec/types.ts";
import type { SpawnWorker, Worker } from "../../exec/worker.ts";
import { JOB_ENV, type WorkerJob } from "./worker-main.ts";

export interface WorkerDeps {
  spawnWorker: SpawnWorker;
  /** argv of the worker binary (workerArgv() in the agent; a test entry in tests). */
  workerArgv: () => string[];
}

export function startWorker(
  deps: WorkerDeps,
  identity: Identity | undefined,
  job: WorkerJob,
  stdin: WorkerOptionsStdin,
): Worker | { error: string } {
  const env: Record<string, string> = {
    PATH: "/usr/sbin:/usr/bin:/sbin:/bin",
    LANG: "C.UTF-8",
    [JOB_ENV]: JSON.stringify(job),
    ...(identity ? { HOME: identity.home, USER: identity.user, LOGNAME: identity.user } : {}),
  };
  return deps.spawnWorker({ argv: deps.workerArgv(), identity, env, stdin, cwd: "/" });
}

type WorkerOptionsStdin = "pipe" | "ignore" | ReadableStream<Uint8Array>;

/** The part of a stream reader used here (Bun's and node:stream/web's readers both fit). */
export interface ByteReader {
  read(): Promise<{ done: boolean; value?: Uint8Array | undefined }>;
  cancel(reason?: unknown): Promise<void>;
}

/** Reads one line from `reader`; returns it with whatever bytes came after it. */
export async function readLine(reader: ByteReader, maxBytes = 1 << 20): Promise<{ line: string; rest: Uint8Array } | undefined> {
  const parts: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done || !value) return undefined;
    const nl = value.indexOf(10);
    if (nl >= 0) {
      parts.push(value.subarray(0, nl));
      return { line: Buffer.concat(parts).toString("utf8"), rest: value.subarray(nl + 1) };
    }
    parts.push(value);
    total += value.length;
    if (total > maxBytes) return undefined;
  }
}

export async function drainText(stream: ReadableStream<Uint8Array>, maxBytes = 64 * 1024): Promise<string> {
  let text = "";
  for await (const chunk of stream) if (text.length < maxBytes) text += Buffer.from(chunk).toString("utf8");
  return text.slice(0, maxBytes);
}
