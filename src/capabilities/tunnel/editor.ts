// The editor behind an editor tunnel (spec/upstream-2026.md §8.5): code-server brought up lazily on the first health
// check, as the user with their groups, on a free loopback port, and stopped with its process group. Deviation from
// upstream: nothing is ever downloaded and piped into a root shell; when code-server is not installed the health
// check says so (500, how to install it). Root never writes into the user's home: the config and settings files are
// written by a process running as the user (SECURITY.md, "root never reads or writes on a user's behalf").
import { accessSync, constants, statSync } from "node:fs";
import { createConnection, createServer } from "node:net";
import { join } from "node:path";
import type { EditorConfig } from "../../config/schema.ts";
import { userEnvironment } from "../../exec/identity.ts";
import type { Identity, RunProcess } from "../../exec/types.ts";
import type { SpawnWorker, Worker } from "../../exec/worker.ts";
import type { Logger } from "../../log/logger.ts";
import type { Clock } from "../../platform/clock.ts";
import { readMeminfo } from "../../platform/proc/meminfo.ts";
import { type EditorStatus, healthResponse } from "./metadata.ts";

const MIN_FREE_MEMORY = 512 * 1024 * 1024;
const READY_WITHIN_MS = 30_000;
const READY_POLL_MS = 250;
const STOP_GRACE_MS = 10_000;
const FALLBACK_DIRS = ["/usr/bin", "/usr/local/bin"];
export const NOT_INSTALLED =
  "code-server is not installed: install the code-server package (https://coder.com/docs/code-server/install, e.g. the .deb or .rpm from its releases page) or set [editor] code_server to its path";

const CONFIG_YAML = "auth: none\ndisable-telemetry: true\ndisable-update-check: true\n";
const SETTINGS = `${JSON.stringify(
  {
    "workbench.colorTheme": "Default Dark Modern",
    "telemetry.telemetryLevel": "off",
    "workbench.startupEditor": "none",
    "window.restoreWindows": "none",
    "update.mode": "none",
    "security.workspace.trust.enabled": false,
    "workbench.welcomePage.walkthroughs.openOnInstall": false,
    // biome-ignore lint/suspicious/noTemplateCurlyInString: VS Code's own title variables, not a template literal
    "window.title": "${activeEditorShort}${separator}${rootName}${separator}Alpamon Editor",
  },
  null,
  2,
)}\n`;
/** Runs as the user: writes both files under $HOME/.alpamon-editor with the user's own rights, 0600. */
const WRITE_FILES = [
  "set -e",
  "umask 077",
  'd="$HOME/.alpamon-editor"',
  'mkdir -p "$d/User"',
  'printf \'%s\' "$1" > "$d/config.yaml"',
  'printf \'%s\' "$2" > "$d/User/settings.json"',
].join("\n");

export interface EditorDeps {
  config: EditorConfig;
  spawnWorker: SpawnWorker;
  runProcess: RunProcess;
  log: Logger;
  clock: Clock;
  /** The PATH searched for code-server (the agent's). */
  path: string;
}

/** Who code-server runs as: a user with their groups, or (agent not root) the agent itself. */
export interface EditorUser {
  identity: Identity | undefined;
  user: string;
  home: string;
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** [editor] code_server, else PATH, /usr/bin, /usr/local/bin. */
export function findCodeServer(configured: string | undefined, path: string): string | undefined {
  if (configured) return isExecutable(configured) ? configured : undefined;
  const dirs = [...path.split(":").filter((d) => d.startsWith("/")), ...FALLBACK_DIRS];
  return dirs.map((d) => join(d, "code-server")).find(isExecutable);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = createConnection({ host: "127.0.0.1", port });
    sock.once("connect", () => {
      sock.destroy();
      resolve(true);
    });
    sock.once("error", () => {
      sock.destroy();
      resolve(false);
    });
  });
}

function freeMemory(): number | undefined {
  try {
    return readMeminfo().MemAvailable;
  } catch {
    return undefined;
  }
}

export class EditorManager {
  status: EditorStatus = "idle";
  error: string | undefined;
  /** code-server's port once ready, else 0. */
  port = 0;
  private worker: Worker | undefined;
  private bringUp: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly deps: EditorDeps,
    private readonly who: EditorUser,
  ) {}

  /** The answer to a health-check stream; the first one starts code-server in the background. */
  health(): string {
    if (this.status === "idle" && !this.stopped) {
      this.status = "starting";
      this.bringUp = this.start().catch((err: unknown) => this.failed(err instanceof Error ? err.message : String(err)));
    }
    return healthResponse(this.status, this.error);
  }

  /** SIGTERM to code-server's process group, SIGKILL after 10 s; waits until it is gone. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.bringUp;
    const worker = this.worker;
    if (!worker) return;
    worker.kill();
    await worker.exited;
  }

  private failed(message: string): void {
    this.status = "error";
    this.error = message;
    this.deps.log.warn("the editor could not be started", { user: this.who.user, error: message });
  }

  private async start(): Promise<void> {
    const { deps, who } = this;
    const available = freeMemory();
    if (available !== undefined && available < MIN_FREE_MEMORY) {
      return this.failed(`insufficient memory: ${Math.floor(available / 2 ** 20)}MB available, 512MB required`);
    }
    const program = findCodeServer(deps.config.codeServer, deps.path);
    if (!program) {
      return this.failed(deps.config.codeServer ? `${NOT_INSTALLED} (${deps.config.codeServer} is not an executable file)` : NOT_INSTALLED);
    }
    const baseEnv = who.identity ? userEnvironment(who.identity) : { PATH: deps.path, HOME: who.home, USER: who.user, LANG: "C.UTF-8" };
    const written = await deps.runProcess({
      argv: ["/bin/sh", "-c", WRITE_FILES, "alpamon-editor", CONFIG_YAML, SETTINGS],
      ...(who.identity ? { identity: who.identity } : {}),
      env: baseEnv,
      timeoutMs: 30_000,
      maxOutputBytes: 4096,
    });
    if (written.exitCode !== 0) {
      return this.failed(
        `cannot write the editor settings as ${who.user}: ${(written.startError ?? written.output).trim() || `exit ${written.exitCode}`}`,
      );
    }
    if (this.stopped) return;
    const port = await freePort();
    const dir = join(who.home, ".alpamon-editor");
    const worker = deps.spawnWorker({
      argv: [
        program,
        "--config",
        join(dir, "config.yaml"),
        "--user-data-dir",
        dir,
        "--bind-addr",
        `127.0.0.1:${port}`,
        "--idle-timeout-seconds",
        String(deps.config.idleTimeoutMinutes * 60),
      ],
      ...(who.identity ? { identity: who.identity } : {}),
      env: {
        ...baseEnv,
        EXTENSIONS_GALLERY: '{"serviceUrl": "https://open-vsx.org/vscode/gallery", "itemUrl": "https://open-vsx.org/vscode/item"}',
        XDG_DATA_HOME: join(who.home, ".local/share"),
        XDG_CONFIG_HOME: join(who.home, ".config"),
      },
      cwd: who.home,
      stdin: "ignore",
      killGraceMs: STOP_GRACE_MS,
    });
    if ("error" in worker) return this.failed(`cannot start code-server: ${worker.error}`);
    this.worker = worker;
    // Its output is not kept; the pipes are drained so it never blocks on them.
    void worker.stdout.pipeTo(new WritableStream()).catch(() => {});
    void worker.stderr.pipeTo(new WritableStream()).catch(() => {});
    let exited: number | undefined;
    void worker.exited.then((code) => {
      exited = code;
      if (this.status === "ready" && !this.stopped) this.failed(`code-server exited with ${code}`);
    });
    const start = deps.clock.monotonic();
    while (!this.stopped) {
      if (exited !== undefined) return this.failed(`code-server exited with ${exited} before it was ready`);
      if (await accepts(port)) {
        this.port = port;
        this.status = "ready";
        deps.log.info("the editor is ready", { user: who.user, port });
        return;
      }
      if (deps.clock.monotonic() - start > READY_WITHIN_MS) {
        worker.kill();
        return this.failed(`code-server did not accept connections within ${READY_WITHIN_MS / 1000} s`);
      }
      await deps.clock.sleep(READY_POLL_MS);
    }
  }
}
