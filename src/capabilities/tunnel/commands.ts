// The tunnel commands (spec/upstream-2026.md §8.1): `opentunnel` checks the host's load and the session id, answers
// at once and brings the tunnel up in the background (later failures are only logged); `closetunnel` ends one and
// answers once its helper and editor are gone. Thin adapters over Tunnel and the registry in index.ts.
import { userInfo } from "node:os";
import { fail, ok } from "../../commands/contract.ts";
import type { FamilyBodies } from "../../commands/lazy.ts";
import type { EditorConfig, PortRange } from "../../config/schema.ts";
import type { WebSocketClient } from "../../console/http.ts";
import { lookupUser, resolveIdentity } from "../../exec/identity.ts";
import type { Identity, RunProcess } from "../../exec/types.ts";
import type { SpawnWorker } from "../../exec/worker.ts";
import type { Logger } from "../../log/logger.ts";
import type { Clock } from "../../platform/clock.ts";
import { memoryUsage, readMeminfo } from "../../platform/proc/meminfo.ts";
import { type CpuTicks, cpuUsage, readStat } from "../../platform/proc/stat.ts";
import { CloseTunnelData, OpenTunnelData } from "./data.ts";
import { EditorManager } from "./editor.ts";
import type { StreamSlots } from "./stream-slots.ts";
import { Tunnel } from "./tunnel.ts";

const CPU_SAMPLE_MS = 100;
const HELPER_USER = "nobody";

/** The live tunnels by session id (index.ts owns it, so the shutdown part can close them). */
export interface TunnelTable {
  get(id: string): { close(reason: string): Promise<void> } | undefined;
  has(id: string): boolean;
  add(id: string, tunnel: { close(reason: string): Promise<void> }): void;
  remove(id: string, tunnel: object): void;
}

export interface TunnelCommandDeps {
  http: WebSocketClient;
  table: TunnelTable;
  slots: StreamSlots;
  allowedPorts: readonly PortRange[];
  /** CPU and memory percent above which opentunnel is refused. */
  loadLimitPercent: number;
  editor: EditorConfig;
  /** `<run dir>/tunnels`. */
  baseDir: string;
  spawnWorker: SpawnWorker;
  runProcess: RunProcess;
  selfArgv: (args: string[]) => string[];
  log: Logger;
  clock: Clock;
  /** /proc/stat when the capability was built: the first CPU check measures from there. */
  cpuBaseline?: CpuTicks | undefined;
  agentUid?: number;
}

/**
 * CPU use since the previous check (the first compares with `since`, taken when the capability was built), as
 * upstream's gopsutil `cpu.Percent(0)`; a check within 100 ms of the last one samples 100 ms. Memory used percent.
 */
function resourceSampler(clock: Clock, since: CpuTicks | undefined): () => Promise<{ cpu?: number; memory?: number }> {
  let last = since;
  let lastAt = clock.monotonic();
  return async () => {
    const out: { cpu?: number; memory?: number } = {};
    try {
      out.memory = memoryUsage(readMeminfo()).usage;
    } catch {
      // unreadable: fail open
    }
    try {
      if (!last || clock.monotonic() - lastAt < CPU_SAMPLE_MS) {
        last = readStat();
        await clock.sleep(CPU_SAMPLE_MS);
      }
      const now = readStat();
      out.cpu = cpuUsage(last, now);
      last = now;
      lastAt = clock.monotonic();
    } catch {
      // unreadable: fail open
    }
    return out;
  };
}

export function tunnelCommands(deps: TunnelCommandDeps): FamilyBodies {
  const { table, clock } = deps;
  const agentUid = deps.agentUid ?? process.getuid?.() ?? 0;
  const log = deps.log;
  const resources = resourceSampler(clock, deps.cpuBaseline);

  const helperIdentity = async (): Promise<Identity | undefined | { error: string }> => {
    if (agentUid !== 0) return undefined;
    const pw = await lookupUser(HELPER_USER, deps.runProcess);
    if (!pw) return { error: `there is no user ${HELPER_USER} to run the tunnel helper as` };
    return { user: pw.name, uid: pw.uid, gid: pw.gid, home: pw.home, shell: pw.shell };
  };

  const editorFor =
    (username: string, groupname: string | null | undefined) => async (): Promise<{ editor: EditorManager } | { error: string }> => {
      const editorDeps = {
        config: deps.editor,
        spawnWorker: deps.spawnWorker,
        runProcess: deps.runProcess,
        log: log.child("editor"),
        clock,
        path: process.env.PATH ?? "/usr/local/bin:/usr/bin:/bin",
      };
      if (agentUid !== 0) {
        const me = userInfo();
        return { editor: new EditorManager(editorDeps, { identity: undefined, user: me.username, home: me.homedir }) };
      }
      const who = await resolveIdentity(username, groupname, deps.runProcess);
      if (!who.ok) return { error: who.error };
      return { editor: new EditorManager(editorDeps, { identity: who.identity, user: who.identity.user, home: who.identity.home }) };
    };

  const opentunnel = {
    data: OpenTunnelData,
    async run(data: OpenTunnelData) {
      const sid = data.session_id;
      const load = await resources();
      const limit = deps.loadLimitPercent;
      if (load.cpu !== undefined && load.cpu > limit) return fail(`opentunnel: CPU usage ${load.cpu.toFixed(1)}% exceeds limit ${limit}%`);
      if (load.memory !== undefined && load.memory > limit) {
        return fail(`opentunnel: memory usage ${load.memory.toFixed(1)}% exceeds limit ${limit}%`);
      }
      if (table.has(sid)) return fail(`opentunnel: tunnel with session ID ${sid} already exists`);
      const editor = data.client_type === "editor";
      const tunnel = new Tunnel(
        {
          sessionId: sid,
          url: data.url,
          targetPort: editor ? 0 : (data.target_port ?? 0),
          helperIdentity,
          ...(editor ? { editor: editorFor(data.username ?? "", data.groupname) } : {}),
        },
        {
          http: deps.http,
          relay: {
            spawnWorker: deps.spawnWorker,
            selfArgv: deps.selfArgv,
            baseDir: deps.baseDir,
            allowedPorts: deps.allowedPorts,
            log: log.child("relay"),
            clock,
          },
          slots: deps.slots,
          allowedPorts: deps.allowedPorts,
          log,
          clock,
        },
        (ended) => table.remove(sid, ended),
      );
      table.add(sid, tunnel);
      return editor
        ? ok(`Editor tunnel opened for session ${sid} (user: ${data.username}).`)
        : ok(`Tunnel opened for session ${sid} to port ${data.target_port}.`);
    },
  };

  const closetunnel = {
    data: CloseTunnelData,
    async run(data: CloseTunnelData) {
      const tunnel = table.get(data.session_id);
      if (!tunnel) return fail(`closetunnel: Failed to close tunnel. tunnel session ${data.session_id} not found`);
      await tunnel.close("closetunnel");
      return ok(`Tunnel closed for session ${data.session_id}.`);
    },
  };

  return { opentunnel, closetunnel };
}
