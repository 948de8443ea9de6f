// The file commands the console sends: openftp (the file manager), download (console → host) and upload
// (host → console). Thin adapters over the session relay and the transfers; every file is touched by a worker
// running as the user, never by the agent itself.
import type { InferOutput } from "valibot";
import type { FamilyBodies } from "../../commands/lazy.ts";
import { resolveIdentity as defaultResolve } from "../../exec/identity.ts";
import { spawnWorker as defaultSpawn } from "../../exec/worker.ts";
import { runDownload } from "./download.ts";
import { FtpSessions } from "./ftp-session.ts";
import type { FileCommandDeps, FileCommandOptions } from "./deps.ts";
import { DownloadData, notEnoughInformation, UploadData } from "./transfer-data.ts";
import { RmData, runRm } from "./staged-exec.ts";
import { runUpload } from "./upload.ts";
import { workerArgv as defaultArgv } from "./worker-argv.ts";

/** The bodies of the commands files/index.ts declares, keyed by name. */
export function fileCommands(options: FileCommandOptions): FamilyBodies {
  const deps: FileCommandDeps = {
    resolveIdentity: (u, g) => defaultResolve(u, g),
    spawnWorker: defaultSpawn,
    workerArgv: defaultArgv,
    ...options,
  };
  const sessions = new FtpSessions(deps);
  return {
    // openftp checks its own data (ftp-session.ts), through the same formatter and wording.
    openftp: { run: (_data, ctx) => sessions.open(ctx) },
    download: {
      data: DownloadData,
      invalid: notEnoughInformation("download"),
      run: (d: InferOutput<typeof DownloadData>, ctx) => runDownload(deps, d, ctx),
    },
    upload: {
      data: UploadData,
      invalid: notEnoughInformation("upload"),
      run: (d: InferOutput<typeof UploadData>, ctx) => runUpload(deps, d, ctx),
    },
    rm: { data: RmData, run: (d: InferOutput<typeof RmData>) => runRm(d) },
  };
}
