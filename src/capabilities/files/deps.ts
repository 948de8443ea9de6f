// What the file commands need from the agent (the console link, a worker launcher, the limits), in a module
// of its own so the session and transfer modules can name it without importing the command table.
import type { ConsoleHttp } from "../../console/http.ts";
import type { OutboxItem } from "../../console/outbox/item.ts";
import type { SpawnWorker } from "../../exec/worker.ts";
import type { Logger } from "../../log/logger.ts";
import type { ResolveIdentity } from "./transfer-data.ts";
import type { UnzipLimits } from "./unzip-limits.ts";

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
