// The composition root: builds the console link, the dispatcher and every capability from the config, starts
// their parts in order, and stops them in reverse on a signal, `quit` or `restart`. The only place that knows
// how the parts fit together: a capability never imports another, what one needs of another is wired here.
import { createAgentControl } from "./capabilities/agent-control/index.ts";
import { createFiles } from "./capabilities/files/index.ts";
import { createFirewall } from "./capabilities/firewall/index.ts";
import { inventoryHelper } from "./capabilities/inventory/collect-process.ts";
import { createInventory } from "./capabilities/inventory/index.ts";
import { createMetrics } from "./capabilities/metrics/index.ts";
import { createPackages } from "./capabilities/packages/index.ts";
import { createPower } from "./capabilities/power/index.ts";
import { createShell } from "./capabilities/shell/index.ts";
import { createTerminal } from "./capabilities/terminal/index.ts";
import { createTunnel } from "./capabilities/tunnel/index.ts";
import { createUsers } from "./capabilities/users/index.ts";
import type { Capability } from "./commands/capability.ts";
import { Dispatcher } from "./commands/dispatcher.ts";
import { outboxChunks } from "./commands/chunks.ts";
import { outboxFeedback } from "./commands/feedback.ts";
import { CommandRegistry } from "./commands/registry.ts";
import { SeenCommandIds } from "./commands/seen.ts";
import { createSigningGate } from "./commands/signing/index.ts";
import type { AgentConfig } from "./config/schema.ts";
import { ConsoleLink } from "./console/link.ts";
import type { CommandEnvelope } from "./console/protocol.ts";
import { openStateDb, stateDbPath, type StateDb } from "./db/open.ts";
import { setupWorkCgroup, type WorkCgroup } from "./exec/cgroup.ts";
import { placeUserWorkIn } from "./exec/launch.ts";
import { reexec } from "./exec/reexec.ts";
import { runProcess } from "./exec/run.ts";
import { selfArgv } from "./platform/self.ts";
import { LOGS_DIALECT, LogForwarder } from "./log/forward.ts";
import { LogIntake } from "./log/intake.ts";
import { type LogHub, RotatingFileSink, stderrSink, type Logger } from "./log/logger.ts";
import { systemClock } from "./platform/clock.ts";
import { Lifecycle, type Part } from "./platform/lifecycle.ts";
import { readPlatform, type Platform } from "./platform/os-release.ts";
import { collectForRound, pageOutExecutable, pageOutPart } from "./platform/page-out.ts";
import { PidFile } from "./platform/pidfile.ts";
import { USER_AGENT, VERSION } from "./version.ts";
import { dirname, join } from "node:path";

/** How long shutdown waits for running commands. */
export const SHUTDOWN_COMMANDS_MS = 5_000;

export interface AgentContext {
  config: AgentConfig;
  log: Logger;
  hub: LogHub;
  lifecycle: Lifecycle;
  state: StateDb;
}

/**
 * First to start, last to stop: the cgroup where everything started as a user runs, so users' processes
 * cannot use up the agent's own task budget (exec/cgroup.ts). Without one the agent runs as before.
 */
function userWorkPart(log: Logger): Part {
  let work: WorkCgroup | undefined;
  return {
    name: "user-work-cgroup",
    start() {
      const setup = setupWorkCgroup();
      if (!setup.ok) {
        log.warn("user processes share the agent's task budget: no user-work cgroup", { reason: setup.reason });
        return;
      }
      work = setup.work;
      placeUserWorkIn(work.procs);
      log.info("user processes run in their own cgroup", {
        cgroup: work.dir,
        version: work.version,
        pids_max: work.limit,
        agent_budget: work.budget,
      });
    },
    stop() {
      placeUserWorkIn(undefined);
      const problem = work?.release();
      if (problem) log.warn("could not release the user-work cgroup", { problem });
      work = undefined;
    },
  };
}

/** Local programs' log records (the Unix socket beside the PID file) and warnings forwarded to the console. */
function logParts(ctx: AgentContext, link: ConsoleLink): Part[] {
  const enqueue = link.outbox.enqueue.bind(link.outbox);
  const lacksLogs = () => link.outbox.dialect(LOGS_DIALECT) === "fallback";
  const forwarder = new LogForwarder({ hub: ctx.hub, enqueue, now: systemClock.now, lacksLogs });
  // Beside the PID file, i.e. in the runtime directory (/run/alpamon).
  const intake = new LogIntake({
    path: join(dirname(ctx.config.pidFile), "log.sock"),
    enqueue,
    log: ctx.log.child("log-intake"),
    now: systemClock.now,
    lacksLogs,
  });
  const log = ctx.log.child("console");
  return [
    { name: "log-forwarding", start: () => forwarder.start(), stop: () => forwarder.stop() },
    {
      name: "log-intake",
      start() {
        try {
          intake.start();
        } catch (err) {
          log.warn("the local log socket could not be opened; local programs cannot send logs", { path: intake.path, error: err });
        }
      },
      stop: () => intake.stop(),
    },
  ];
}

/** Builds the parts in start order: the console link around the capabilities, the backhaul last. */
function buildParts(ctx: AgentContext): Part[] {
  const { config, lifecycle, state } = ctx;
  const clock = systemClock;
  const link = new ConsoleLink({ config, state, log: ctx.log, clock, lifecycle });
  const { http, outbox } = link;
  let platform: Platform | undefined;
  const currentPlatform = () => (platform ??= readPlatform());
  const commandLog = ctx.log.child("commands");

  const firewall = createFirewall({ runProcess, dataDir: config.dataDir, clock, log: ctx.log.child("firewall") });
  const inventory = createInventory({
    http,
    outbox,
    state,
    log: ctx.log.child("inventory"),
    clock,
    version: VERSION,
    // Collections run in the agent's helper process, not here (collect-process.ts).
    ...inventoryHelper({ runProcess, argv: selfArgv, log: ctx.log.child("inventory"), dataDir: config.dataDir }),
    commissioned: () => link.commissioned,
  });
  link.onSettled((item) => inventory.onOutboxSettled(item));
  const metrics = createMetrics({ http, outbox, state, clock, log: ctx.log.child("metrics") });
  const terminal = createTerminal({ http, log: ctx.log.child("terminal"), clock });
  const tunnel = createTunnel({
    http,
    log: ctx.log.child("tunnel"),
    clock,
    tunnel: config.tunnel,
    editor: config.editor,
    runDir: dirname(config.pidFile),
  });
  const registry = new CommandRegistry();
  const shell = createShell({
    log: commandLog.child("system"),
    clock,
    timeoutMs: config.commands.shellTimeoutMs,
    openChunks: outboxChunks({ outbox, log: commandLog.child("system"), clock }),
  });
  const capabilities: Capability[] = [
    shell,
    createAgentControl({
      registry,
      lifecycle,
      clock,
      reconnect: (reason) => link.reconnect(reason),
      restartCollector: metrics.restartCollector,
      http,
    }),
    createUsers({
      platform: currentPlatform,
      syncUsersAndGroups: () => inventory.requestUsersAndGroupsSync(),
      clock,
      log: commandLog.child("users"),
    }),
    createPackages({ platform: currentPlatform, version: VERSION, clock, log: commandLog.child("packages"), consoleUrl: config.serverUrl }),
    createPower({ clock, log: commandLog.child("power"), signal: lifecycle.signal }),
    inventory,
    firewall,
    createFiles({
      http,
      enqueue: (item) => outbox.enqueue(item),
      userAgent: USER_AGENT,
      log: ctx.log.child("files"),
      signal: lifecycle.signal,
      unzipLimits: config.files.unzip,
    }),
    terminal,
    tunnel,
    metrics,
  ];
  for (const capability of capabilities) registry.register(...(capability.commands ?? []));
  const dispatcher = new Dispatcher({
    ...(shell.systemRunner ? { systemRunner: shell.systemRunner } : {}),
    registry,
    feedback: outboxFeedback(outbox, clock.now, { sender: http, clock }),
    seen: new SeenCommandIds(state.sqlite),
    log: commandLog,
    clock,
    signal: lifecycle.signal,
  });
  // Built here, before the backhaul, so the mode is in the log at start.
  const signing = createSigningGate({
    signing: config.signing,
    serverId: config.id,
    serverUrl: config.serverUrl,
    sslVerify: config.ssl.verify,
    outbox,
    sqlite: state.sqlite,
    clock,
    log: commandLog.child("signing"),
    userAgent: USER_AGENT,
  });
  const accept = (command: CommandEnvelope) => dispatcher.accept(command);
  const consoleLog = ctx.log.child("console");
  const commands: Part = {
    name: "commands",
    start() {},
    async stop() {
      if (!(await dispatcher.idle(SHUTDOWN_COMMANDS_MS))) commandLog.warn("stopping while commands are still running");
    },
  };

  return [
    userWorkPart(ctx.log.child("exec")),
    // Each round, after its collection, SQLite lets go of its page cache too (0.3 MB, BENCHMARKS.md "Round 4").
    pageOutPart(ctx.log.child("memory"), clock, pageOutExecutable, (round) => {
      collectForRound(round);
      state.shrinkMemory();
    }),
    link.sessionPart(),
    link.outboxPart(),
    ...metrics.parts,
    ...inventory.parts,
    ...logParts(ctx, link),
    commands,
    ...terminal.parts,
    ...tunnel.parts,
    link.backhaulPart({
      accept: (command) => (signing ? signing.admit(command, accept) : accept(command)),
      reject: (id, reason) => dispatcher.reject(id, reason),
      quit: () => lifecycle.requestStop({ kind: "quit" }),
      // The 2024 console asks on every connect; its sync routes do not exist, so a commit keeps it current.
      commit: () => void inventory.commit().catch((err) => consoleLog.warn("commit failed", { error: err })),
    }),
  ];
}

async function stopAll(parts: Part[], log: Logger): Promise<void> {
  for (const part of [...parts].reverse()) {
    try {
      await part.stop();
    } catch (err) {
      log.error("stopping a part failed", { part: part.name, error: err });
    }
  }
}

/** Runs the agent in the foreground until it is told to stop. Returns the process exit code. */
export async function runAgent(config: AgentConfig, hub: LogHub): Promise<number> {
  hub.level = config.debug ? "debug" : "info";
  hub.addSecret(config.key);
  if (config.logFile !== "-") hub.setSink(new RotatingFileSink(config.logFile));
  else hub.setSink(stderrSink);
  const log = hub.logger();
  const lifecycle = new Lifecycle();
  const untrap = lifecycle.trapSignals();
  // A bug in one part must never take the agent down: log it and keep serving.
  const onUnhandled = (err: unknown) => log.error("unhandled error (agent keeps running)", { error: err });
  process.on("unhandledRejection", onUnhandled);
  process.on("uncaughtException", onUnhandled);

  const pid = PidFile.acquire(config.pidFile);
  let state: StateDb | undefined;
  let parts: Part[] = [];
  try {
    log.info(`Starting alpamon (version: ${VERSION})`, { config: config.source, pid: process.pid });
    state = openStateDb(stateDbPath(config.dataDir));
    parts = buildParts({ config, log, hub, lifecycle, state });
    for (const part of parts) {
      if (lifecycle.stopReason) break;
      await part.start();
    }
    log.info("alpamon initialized and running");
    const reason = await lifecycle.stopped;
    log.info("shutting down", { reason: reason.kind, ...(reason.kind === "signal" ? { signal: reason.signal } : {}) });
  } finally {
    await stopAll(parts, log);
    state?.close();
    untrap();
    process.off("unhandledRejection", onUnhandled);
    process.off("uncaughtException", onUnhandled);
    pid.release();
  }

  if (lifecycle.stopReason?.kind === "restart") {
    log.info("restarting in place");
    hub.close();
    const failure = reexec();
    hub.setSink(config.logFile === "-" ? stderrSink : new RotatingFileSink(config.logFile));
    hub.logger().error("restart failed; exiting so the service manager starts a fresh agent", { error: failure });
    hub.close();
    return 1;
  }
  log.info("Bye.");
  hub.close();
  return 0;
}
