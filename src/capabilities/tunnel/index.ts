// Tunnels: `opentunnel` and `closetunnel` (loaded on first use; spec/upstream-2026.md §8), the stream limit shared by
// every tunnel, and a part that closes every tunnel when the agent stops. Holds no module state.
import { join } from "node:path";
import type { Capability } from "../../commands/capability.ts";
import { lazyFamily, type LazySpec } from "../../commands/lazy.ts";
import type { EditorConfig, TunnelConfig } from "../../config/schema.ts";
import type { WebSocketClient } from "../../console/http.ts";
import { runProcess } from "../../exec/run.ts";
import { spawnWorker } from "../../exec/worker.ts";
import type { Logger } from "../../log/logger.ts";
import type { Clock } from "../../platform/clock.ts";
import type { Part } from "../../platform/lifecycle.ts";
import { type CpuTicks, readStat } from "../../platform/proc/stat.ts";
import { selfArgv } from "../../platform/self.ts";
import type { TunnelTable } from "./commands.ts";
import { createStreamSlots } from "./stream-slots.ts";

export const TUNNEL_SPECS: readonly LazySpec[] = [
  { name: "opentunnel", summary: "Open a TCP tunnel to a loopback port (or an editor) over the console", timeoutMs: 60_000 },
  { name: "closetunnel", summary: "Close a tunnel and stop its relay", timeoutMs: 60_000 },
];

export interface TunnelCapabilityDeps {
  http: WebSocketClient;
  log: Logger;
  clock: Clock;
  tunnel: TunnelConfig;
  editor: EditorConfig;
  /** The agent's runtime directory (beside the PID file); tunnels' sockets go under `tunnels/` in it. */
  runDir: string;
}

type Closable = { close(reason: string): Promise<void> };

function tunnelTable(): TunnelTable & { all(): Closable[] } {
  const tunnels = new Map<string, Closable>();
  return {
    get: (id) => tunnels.get(id),
    has: (id) => tunnels.has(id),
    add: (id, tunnel) => void tunnels.set(id, tunnel),
    remove(id, tunnel) {
      if (tunnels.get(id) === tunnel) tunnels.delete(id);
    },
    all: () => [...tunnels.values()],
  };
}

function readStatOrUndefined(): CpuTicks | undefined {
  try {
    return readStat();
  } catch {
    return undefined;
  }
}

export function createTunnel(deps: TunnelCapabilityDeps): Capability & { parts: Part[] } {
  const table = tunnelTable();
  const cpuBaseline = readStatOrUndefined();
  const slots = createStreamSlots(deps.log);
  const log = deps.log;
  return {
    name: "tunnel",
    commands: lazyFamily(TUNNEL_SPECS, async () =>
      (await import("./commands.ts")).tunnelCommands({
        http: deps.http,
        table,
        slots,
        allowedPorts: deps.tunnel.allowedPorts,
        loadLimitPercent: deps.tunnel.loadLimitPercent,
        editor: deps.editor,
        baseDir: join(deps.runDir, "tunnels"),
        spawnWorker,
        runProcess,
        selfArgv,
        log,
        clock: deps.clock,
        cpuBaseline,
      }),
    ),
    parts: [
      {
        name: "tunnels",
        start() {},
        async stop() {
          await Promise.all(table.all().map((t) => t.close("the agent is stopping").catch(() => {})));
        },
      },
    ],
  };
}
