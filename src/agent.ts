// The composition root: builds every part of the agent from the config, starts them in order, and stops
// them in reverse on a signal, `quit` or `restart`. The only place that knows how the parts fit together.
import type { AgentConfig } from "./config/schema.ts";
import { openStateDb, stateDbPath, type StateDb } from "./db/open.ts";
import { setupWorkCgroup, type WorkCgroup } from "./exec/cgroup.ts";
import { placeUserWorkIn } from "./exec/launch.ts";
import { reexec } from "./exec/reexec.ts";
import { LogHub, RotatingFileSink, stderrSink, type Logger } from "./log/logger.ts";
import { Lifecycle } from "./platform/lifecycle.ts";
import { systemClock } from "./platform/clock.ts";
import { pageOutPart } from "./platform/page-out.ts";
import { PidFile } from "./platform/pidfile.ts";
import { VERSION } from "./version.ts";
import { consoleParts } from "./console/link.ts";

/** Something the agent starts and later stops; stop must be safe to call even if start failed half-way. */
export interface Part {
  name: string;
  start(): Promise<void> | void;
  stop(): Promise<void> | void;
}

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
      log.info("user processes run in their own cgroup", { cgroup: work.dir, version: work.version, pids_max: work.limit, agent_budget: work.budget });
    },
    stop() {
      placeUserWorkIn(undefined);
      const problem = work?.release();
      if (problem) log.warn("could not release the user-work cgroup", { problem });
      work = undefined;
    },
  };
}

/** Builds the parts in start order. Later capabilities append theirs here. */
function buildParts(ctx: AgentContext): Part[] {
  return [userWorkPart(ctx.log.child("exec")), pageOutPart(ctx.log.child("memory"), systemClock), ...consoleParts(ctx)];
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
