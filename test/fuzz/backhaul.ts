// Fuzz of backhaul frames and command data: random and mutated frames go through parseInbound (via the real
// router) into the real Dispatcher with a recording feedback; system lines go through the real system runner
// and shell-line parser with a recording runProcess. Never starts a process or touches the network.
import type { CommandFeedback, FinBody } from "../../src/commands/feedback.ts";
import { agentCommands } from "../../src/capabilities/agent-control/commands.ts";
import { Dispatcher } from "../../src/commands/dispatcher.ts";
import { CommandRegistry } from "../../src/commands/registry.ts";
import { SeenCommandIds } from "../../src/commands/seen.ts";
import { parseCommandLine } from "../../src/capabilities/shell/shell-line.ts";
import { createSystemRunner } from "../../src/capabilities/shell/system.ts";
import { userCommands } from "../../src/capabilities/users/users.ts";
import { USER_SPECS } from "../../src/capabilities/users/index.ts";
import { lazyFamily } from "../../src/commands/lazy.ts";
import { createRouter } from "../../src/console/router.ts";
import { userEnvironment } from "../../src/exec/identity.ts";
import type { RunOptions, RunResult } from "../../src/exec/types.ts";
import { createFirewall } from "../../src/capabilities/firewall/index.ts";
import { LogHub, type LogRecord } from "../../src/log/logger.ts";
import { ManualClock } from "../../src/platform/clock.ts";
import { Lifecycle } from "../../src/platform/lifecycle.ts";
import { mutate, nastyString, Rand, randomObject, randomValue } from "./rand.ts";
import { fuzzDataDir } from "./data-dir.ts";

class RecordingFeedback implements CommandFeedback {
  acks = new Map<string, number>();
  fins = new Map<string, FinBody[]>();
  private next = 1;
  ack(id: string): number {
    this.acks.set(id, (this.acks.get(id) ?? 0) + 1);
    return this.next++;
  }
  fin(id: string, _ack: number, body: FinBody): void {
    this.fins.set(id, [...(this.fins.get(id) ?? []), body]);
  }
}

const INTERNAL = [
  "ping",
  "help",
  "restartcoll",
  "reconnect",
  "firewall",
  "firewall-rollback",
  "firewall-rules",
  "firewall-status",
  "firewall-batch-apply",
  "adduser",
  "addgroup",
  "deluser",
  "delgroup",
  "moduser",
  "frobnicate",
  "",
];
const DATA_KEYS = [
  "username",
  "groupname",
  "uid",
  "gid",
  "groups",
  "comment",
  "home_directory",
  "shell",
  "chain_name",
  "operation",
  "rules",
  "rule_id",
  "source",
  "port_start",
  "dports",
  "protocol",
  "target",
  "chain",
  "method",
  "keep_home",
  "rows",
  "cols",
];

function commandLine(r: Rand, shell: string): string {
  if (shell === "system") {
    const words = ["echo", "ls", "id", "true", "false", "/bin/echo", "exit"];
    const parts = Array.from({ length: r.int(0, 6) }, () => (r.chance(0.5) ? r.pick(words) : nastyString(r, 2)));
    return parts.join(r.pick([" ", " ; ", " && ", " || ", "\n", ";", ""]));
  }
  return [r.pick(INTERNAL), ...Array.from({ length: r.int(0, 3) }, () => nastyString(r, 2))].join(" ");
}

function commandFrame(r: Rand, id: string): unknown {
  const shell = r.chance(0.8) ? r.pick(["internal", "system"]) : nastyString(r, 1);
  const command: Record<string, unknown> = { id, shell, line: commandLine(r, shell) };
  if (shell === "system" && r.chance(0.6)) command.user = "root";
  else if (r.chance(0.5)) command.user = r.chance(0.8) ? r.pick(["root", "nobody", "", "ghost"]) : randomValue(r, 1);
  if (r.chance(0.2)) command.group = r.chance(0.8) ? r.pick(["root", "", "nogroup"]) : randomValue(r, 1);
  if (r.chance(0.3)) command.env = r.chance(0.8) ? { A: nastyString(r, 2), [nastyString(r, 1)]: "x" } : randomValue(r, 1);
  if (r.chance(0.6))
    command.data = r.chance(0.8) ? JSON.stringify(randomObject(r, 2, DATA_KEYS)) : r.chance(0.5) ? mutate(r, '{"a":1}') : randomValue(r, 1);
  if (r.chance(0.1)) command.allow_sh = randomValue(r, 0);
  if (r.chance(0.05)) delete command.shell;
  return { query: "command", command };
}

function frame(r: Rand, n: number): string {
  const id = r.chance(0.9) ? `f${n}` : nastyString(r, 1);
  switch (r.int(0, 9)) {
    case 0:
      return JSON.stringify(randomValue(r, 3));
    case 1:
      return mutate(r, JSON.stringify(commandFrame(r, id)));
    case 2:
      return JSON.stringify({ query: r.pick(["quit", "reconnect", "commit", "ping", nastyString(r, 1)]), reason: randomValue(r, 1) });
    case 3:
      return nastyString(r);
    default:
      return JSON.stringify(commandFrame(r, id));
  }
}

export interface BackhaulFuzzStats {
  frames: number;
  commands: number;
  processes: number;
  rejectedLines: number;
}

/** Runs `cases` frames in batches; throws with the seed and frame on the first broken invariant. */
export async function fuzzBackhaul(seed: number, cases: number): Promise<BackhaulFuzzStats> {
  const r = new Rand(seed);
  const clock = new ManualClock();
  const lifecycle = new Lifecycle();
  const registry = new CommandRegistry();
  const feedback = new RecordingFeedback();
  const records: LogRecord[] = [];
  const hub = new LogHub({ write: () => {}, close: () => {} }, "debug");
  hub.listen((rec) => records.length < 1000 && records.push(rec));
  const log = hub.logger();
  const calls: RunOptions[] = [];
  const runProcess = async (o: RunOptions): Promise<RunResult> => {
    calls.push(o);
    return { exitCode: 0, output: "", omittedBytes: 0, timedOut: false };
  };
  const missing = async (o: RunOptions): Promise<RunResult> => {
    calls.push(o);
    return { exitCode: -1, output: "", omittedBytes: 0, timedOut: false, startError: "command not found" };
  };
  const fw = createFirewall({ runProcess: missing, dataDir: fuzzDataDir(), clock, log, hasSystemd: () => false });
  registry.register(
    ...agentCommands({ registry, lifecycle, clock, reconnect: () => {} }),
    ...fw.commands,
    ...lazyFamily(USER_SPECS, async () =>
      userCommands({
        runProcess,
        lookupUser: async () => undefined,
        lookupGroup: async () => undefined,
        platform: () => ({ family: "debian", id: "debian", idLike: [], name: "Debian", version: "12" }),
        syncUsersAndGroups: () => {},
        clock,
        log,
        exists: () => false,
      }),
    ),
  );
  const systemRunner = createSystemRunner({
    runProcess,
    resolveIdentity: async (user) =>
      user === "root"
        ? { ok: true, identity: { user: "root", uid: 0, gid: 0, home: "/root", shell: "/bin/sh" } }
        : { ok: false, error: `there is no user ${JSON.stringify(user)} on this server` },
    userEnvironment,
    log,
    clock,
  });
  const dispatcher = new Dispatcher({
    registry,
    feedback,
    seen: new SeenCommandIds(),
    log,
    clock,
    signal: lifecycle.signal,
    systemRunner,
    maxConcurrent: 64,
  });
  const route = createRouter(
    {
      accept: (c) => dispatcher.accept(c),
      reject: (id, reason) => dispatcher.reject(id, reason),
      quit: () => {},
      reconnect: () => {},
      commit: () => {},
    },
    log,
  );

  const stats: BackhaulFuzzStats = { frames: 0, commands: 0, processes: 0, rejectedLines: 0 };
  const batch = 500;
  for (let done = 0; done < cases; done += batch) {
    const sent: string[] = [];
    for (let i = done; i < Math.min(cases, done + batch); i++) {
      const text = frame(r, i);
      sent.push(text);
      try {
        route(text);
      } catch (err) {
        throw new Error(`seed ${seed} frame ${i}: the router threw ${String(err)} for ${JSON.stringify(text.slice(0, 300))}`);
      }
      stats.frames++;
      // The shell-line parser alone, with hostile lines and env.
      const line = commandLine(r, "system") + (r.chance(0.3) ? nastyString(r, 3) : "");
      let parsed: ReturnType<typeof parseCommandLine>;
      try {
        parsed = parseCommandLine(line, { HOME: "/root", A: nastyString(r, 2) });
      } catch (err) {
        throw new Error(`seed ${seed} case ${i}: parseCommandLine threw ${String(err)} for ${JSON.stringify(line)}`);
      }
      if (!parsed.ok) {
        stats.rejectedLines++;
        if (!parsed.error.trim()) throw new Error(`seed ${seed} case ${i}: empty parse error for ${JSON.stringify(line)}`);
      } else if (parsed.list.some((s) => s.argv.length === 0)) {
        throw new Error(`seed ${seed} case ${i}: an empty argv step for ${JSON.stringify(line)}`);
      }
    }
    // Every command runs to a fin without the clock moving: nothing here may wait on time.
    if (!(await Promise.race([dispatcher.idle(60_000), Bun.sleep(20_000).then(() => false)]))) {
      throw new Error(`seed ${seed} batch at ${done}: commands never finished (a hang)`);
    }
  }
  for (const [id, n] of feedback.acks) {
    const fins = feedback.fins.get(id) ?? [];
    if (n !== 1 || fins.length !== 1) throw new Error(`seed ${seed}: command ${id} had ${n} acks and ${fins.length} fins`);
    const fin = fins[0]!;
    if (!fin.success && (typeof fin.result !== "string" || fin.result.trim() === ""))
      throw new Error(`seed ${seed}: command ${id} failed with no message`);
  }
  for (const call of calls) {
    // No NUL ever reaches argv: the parser refuses it, and so does the allow_sh path.
    if (!Array.isArray(call.argv) || call.argv.some((a) => typeof a !== "string" || a.includes("\0")))
      throw new Error(`seed ${seed}: bad argv ${JSON.stringify(call.argv)}`);
  }
  stats.commands = feedback.acks.size;
  stats.processes = calls.length;
  hub.close();
  return stats;
}
