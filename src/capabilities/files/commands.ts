// The file commands the console sends: openftp (the file manager), download (console → host) and upload
// (host → console). Thin adapters over the session relay and the transfers; every file is touched by a worker
// running as the user, never by the agent itself.
import type { CommandHandler } from "../../commands/registry.ts";
import type { OutboxItem } from "../../console/outbox/item.ts";
import type { ConsoleHttp } from "../../console/http.ts";
import { resolveIdentity as defaultResolve } from "../../exec/identity.ts";
import { spawnWorker as defaultSpawn, type SpawnWorker } from "../../exec/worker.ts";
import type { Logger } from "../../log/logger.ts";
import { runDownload } from "./download.ts";
import { FtpSessions } from "./ftp-session.ts";
import type { ResolveIdentity } from "./transfer-data.ts";
import type { UnzipLimits } from "./unzip-limits.ts";
import { runUpload } from "./upload.ts";
import { workerArgv as defaultArgv } from "./worker-argv.ts";

export interface FileCommandDeps {
  http: Pick<ConsoleHttp, "authorizationFor" | "isConsoleOrigin" | "proxyFor" | "tls" | "serverUrl" | "websocketHeaders">;
  /** Outbox.enqueue: the stat reports. */
  enqueue: (item: OutboxItem) => number;
  userAgent: string;
  log: Logger;
  /** Aborted when the agent stops: every file-manager session is closed. */
  signal?: AbortSignal;
  resolveIdentity: ResolveIdentity;
  spawnWorker: SpawnWorker;
  workerArgv: () => string[];
  idleTimeoutMs?: number;
  /** [files] unzip_max_*: the defaults when absent. */
  unzipLimits?: UnzipLimits;
}

export type FileCommandOptions = Omit<FileCommandDeps, "resolveIdentity" | "spawnWorker" | "workerArgv"> & Partial<FileCommandDeps>;

export function fileCommands(options: FileCommandOptions): CommandHandler[] {
  const deps: FileCommandDeps = {
    resolveIdentity: (u, g) => defaultResolve(u, g),
    spawnWorker: defaultSpawn,
    workerArgv: defaultArgv,
    ...options,
  };
  const sessions = new FtpSessions(deps);
  return [
    { name: "openftp", summary: "open a file-manager session as a user", run: (ctx) => sessions.open(ctx) },
    { name: "download", summary: "write a file from the console onto this host", run: (ctx) => runDownload(deps, ctx) },
    { name: "upload", summary: "send files from this host to the console", run: (ctx) => runUpload(deps, ctx) },
  ];
}
