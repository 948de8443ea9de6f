// The file worker: the agent's own binary run as `alpamon ftp-worker`, started AS THE USER through exec/.
// Its job arrives in the ALPAMON_FILE_JOB environment variable (paths and flags, never credentials); data
// flows through stdin and stdout. Modes: `ftp` (file-manager requests, one JSON line each), `write` (a
// download to disk) and `read` (an upload from disk). Never talks to the network and never starts a process.
import * as v from "valibot";
import { FtpState, serveFtp } from "./ftp-serve.ts";
import { decodeFrames } from "./frames.ts";
import { collector } from "./memory.ts";
import { planRead, readBytes } from "./read-job.ts";
import { flushOut, statusLine, stdinChunks, writeOut, writeOutSync } from "./worker-io.ts";
import { runWriteJob } from "./write-job.ts";

export const JOB_ENV = "ALPAMON_FILE_JOB";

const positive = v.pipe(v.number(), v.safeInteger(), v.minValue(1));
/** The [files] unzip limits, read from the config by the agent (root) and handed to the worker. */
const UnzipLimitsJob = v.object({ maxBytes: positive, maxRatio: positive, maxEntries: positive });

export const WorkerJob = v.variant("mode", [
  v.object({ mode: v.literal("ftp"), home: v.string() }),
  v.object({
    mode: v.literal("write"),
    home: v.string(),
    path: v.string(),
    overwrite: v.boolean(),
    unzip: v.boolean(),
    limits: UnzipLimitsJob,
  }),
  v.object({ mode: v.literal("read"), home: v.string(), paths: v.array(v.string()) }),
]);
export type WorkerJob = v.InferOutput<typeof WorkerJob>;

function parseJob(text: string | undefined): WorkerJob | string {
  if (!text) return `${JOB_ENV} is not set; this command is started by the agent only`;
  try {
    const parsed = v.safeParse(WorkerJob, JSON.parse(text));
    return parsed.success ? parsed.output : `bad job: ${parsed.issues[0]!.message}`;
  } catch {
    return "bad job: not JSON";
  }
}

export async function runFileWorker(_argv: string[]): Promise<number> {
  const job = parseJob(process.env[JOB_ENV]);
  delete process.env[JOB_ENV];
  if (typeof job === "string") {
    process.stderr.write(`alpamon ftp-worker: ${job}\n`);
    return 2;
  }
  switch (job.mode) {
    case "ftp": {
      await writeOut(statusLine({ ready: true }));
      await serveFtp(Bun.stdin.stream(), writeOut, new FtpState(job.home));
      await flushOut();
      return 0;
    }
    case "write": {
      const outcome = await runWriteJob(job, decodeFrames(stdinChunks()));
      await writeOut(statusLine({ ...outcome }));
      await flushOut();
      return outcome.ok ? 0 : 1;
    }
    case "read": {
      const plan = planRead(job);
      await writeOut(statusLine(plan.ok ? { ok: true, name: plan.name, size: plan.size, zip: plan.zip } : plan));
      if (!plan.ok) {
        await flushOut();
        return 1;
      }
      try {
        const collect = collector();
        for await (const chunk of readBytes(plan)) {
          await writeOutSync(chunk);
          collect(chunk.length);
        }
        await flushOut();
        return 0;
      } catch (err) {
        process.stderr.write(`${(err as Error).message}\n`);
        return 1;
      }
    }
  }
}
