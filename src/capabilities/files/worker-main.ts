// The file worker: the agent's own binary run as `alpamon ftp-worker`, started AS THE USER through exec/.
// Its job arrives in the ALPAMON_FILE_JOB environment variable (paths and flags, never credentials); data
// flows through stdin and stdout. Modes: `ftp` (file-manager requests, one JSON line each), `write` (a
// download to disk) and `read` (an upload from disk). Never talks to the network and never starts a process.
import * as v from "valibot";
import { FtpState, serveFtp } from "./ftp-serve.ts";
import { decodeFrames } from "./frames.ts";
import { collector } from "./memory.ts";
import { planRead, readBytes } from "./read-job.ts";
import { IDLE_TIMEOUT_MS } from "./fetch-stream.ts";
import { flushOut, sizedStdin, statusLine, stdinChunks, writeOut, writeOutSync } from "./worker-io.ts";
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
    /** Set when stdin carries exactly this many raw bytes (no frames), which must come within `idleMs` gaps. */
    size: v.optional(v.pipe(v.number(), v.safeInteger(), v.minValue(0))),
    idleMs: v.optional(positive),
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
      const raw = job.size !== undefined;
      const input = raw ? sizedStdin(job.size ?? 0, job.idleMs ?? IDLE_TIMEOUT_MS) : decodeFrames(stdinChunks());
      const outcome = await runWriteJob(job, input);
      await writeOut(statusLine({ ...outcome }));
      await flushOut();
      // A read left blocked on a silent pipe would keep the process alive: raw jobs end here.
      if (raw) process.exit(outcome.ok ? 0 : 1);
      return outcome.ok ? 0 : 1;
    }
    case "read": {
      // fd 1 is written with writeSync only: process.stdout would make the pipe non-blocking, and the worker
      // would then poll a full pipe instead of sleeping in write(2) until the agent has read it.
      const plan = planRead(job);
      await writeOutSync(Buffer.from(statusLine(plan.ok ? { ok: true, name: plan.name, size: plan.size, zip: plan.zip } : plan)));
      if (!plan.ok) return 1;
      try {
        // A plain file reuses one buffer; only the zip writer makes garbage (its compressed chunks).
        const collect = plan.zip ? collector() : undefined;
        for await (const chunk of readBytes(plan)) {
          await writeOutSync(chunk);
          collect?.(chunk.length);
        }
        return 0;
      } catch (err) {
        process.stderr.write(`${(err as Error).message}\n`);
        return 1;
      }
    }
  }
}
