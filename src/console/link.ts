// The console link as parts of the agent: the session check, the durable outbox, the startup event, log
// forwarding, command dispatch and the backhaul, started in that order and stopped in reverse, with the
// outbox drained last so fins of `quit` and `restart` are delivered before the process goes.
import type { AgentContext, Part } from "../agent.ts";
import { registerCommands } from "../commands/catalog.ts";
import { inventoryCommands } from "../capabilities/inventory/commands.ts";
import { Inventory } from "../capabilities/inventory/inventory.ts";
import { metricsPart } from "../capabilities/metrics/part.ts";
import { runProcess } from "../exec/run.ts";
import { createFirewall } from "../capabilities/firewall/index.ts";
import { FILE_SPECS, lazyFamily, TERMINAL_SPECS } from "../commands/lazy.ts";
import { DEFAULT_MAX_TERMINALS, TerminalRegistry } from "../capabilities/terminal/registry.ts";
import { Dispatcher } from "../commands/dispatcher.ts";
import { COMMAND_PRIORITY, outboxFeedback } from "../commands/feedback.ts";
import { CommandRegistry } from "../commands/registry.ts";
import { SeenCommandIds } from "../commands/seen.ts";
import { LogForwarder } from "../log/forward.ts";
import { LogIntake } from "../log/intake.ts";
import { dirname, join } from "node:path";
import { systemClock } from "../platform/clock.ts";
import { USER_AGENT, VERSION } from "../version.ts";
import { Backhaul, backhaulBackoff, backhaulUrl } from "./backhaul.ts";
import { ConsoleHttp } from "./http.ts";
import { Outbox } from "./outbox/outbox.ts";
import { createRouter } from "./router.ts";
import { waitForSession } from "./session.ts";
import { buildTlsOptions } from "./tls.ts";

/** How long shutdown waits for running commands, then for the outbox to empty. */
export const SHUTDOWN_COMMANDS_MS = 5_000;
export const SHUTDOWN_DRAIN_MS = 5_000;

export function consoleParts(ctx: AgentContext): Part[] {
  const { config, lifecycle, state } = ctx;
  const clock = systemClock;
  const log = ctx.log.child("console");
  const tls = buildTlsOptions(config.ssl);
  if (!config.ssl.verify && config.serverUrl.startsWith("https://")) {
    log.warn("TLS certificate verification is turned off ([ssl] verify = false); do not use this in production");
  }
  const http = new ConsoleHttp({ serverUrl: config.serverUrl, id: config.id, key: config.key, tls, userAgent: USER_AGENT, log });

  let forwarder: LogForwarder | undefined;
  let inventory: Inventory | undefined;
  let commissioned = false;
  let backhaulOpen = () => false;
  const outbox = new Outbox({
    state,
    sender: http,
    log: ctx.log.child("outbox"),
    clock,
    maxRows: config.outbox.maxRows,
    maxBytes: config.outbox.maxBytes,
    onSettled: (item) => {
      forwarder?.settled(item.path, item.status);
      inventory?.onOutboxSettled(item);
    },
    // A connected backhaul proves the console is there: no link-wide hold then.
    reachable: () => backhaulOpen(),
  });
  forwarder = new LogForwarder({ hub: ctx.hub, enqueue: (item) => outbox.enqueue(item), now: clock.now });
  // Beside the PID file, i.e. in the runtime directory (/run/alpamon).
  const intake = new LogIntake({ path: join(dirname(config.pidFile), "log.sock"), enqueue: (item) => outbox.enqueue(item), log: ctx.log.child("log-intake"), now: clock.now });

  const firewall = createFirewall({ runProcess, dataDir: config.dataDir, clock, log: ctx.log.child("firewall") });
  inventory = new Inventory({
    http,
    outbox,
    state,
    log: ctx.log.child("inventory"),
    clock,
    version: VERSION,
    firewallChains: () => firewall.collectFirewallChains(),
  });
  const metrics = metricsPart({ http, outbox, state, clock, log: ctx.log.child("metrics") });
  const terminals = new TerminalRegistry(DEFAULT_MAX_TERMINALS);
  const registry = new CommandRegistry();
  // The backhaul is created below; commands reach it through this late-bound function.
  let reconnect: (reason: string) => void = () => {};
  const systemRunner = registerCommands({
    registry,
    lifecycle,
    clock,
    log: ctx.log.child("commands"),
    version: VERSION,
    reconnect: (reason) => reconnect(reason),
    syncUsersAndGroups: () => inventory?.requestUsersAndGroupsSync(),
    restartCollector: metrics.restartCollector,
    extra: [
      ...inventoryCommands(inventory),
      ...firewall.commands,
      ...lazyFamily(FILE_SPECS, async () =>
        (await import("../capabilities/files/commands.ts")).fileCommands({ http, enqueue: (item) => outbox.enqueue(item), userAgent: USER_AGENT, log: ctx.log.child("files"), signal: lifecycle.signal, unzipLimits: config.files.unzip }),
      ),
      ...lazyFamily(TERMINAL_SPECS, async () => (await import("../capabilities/terminal/commands.ts")).terminalCommands({ http, registry: terminals, log: ctx.log.child("terminal"), clock })),
    ],
  });
  const dispatcher = new Dispatcher({
    systemRunner,
    registry,
    feedback: outboxFeedback(outbox, clock.now, { sender: http, clock }),
    seen: new SeenCommandIds(state.sqlite),
    log: ctx.log.child("commands"),
    clock,
    signal: lifecycle.signal,
  });

  const wsUrl = backhaulUrl(config.serverUrl);
  const backhaul: Backhaul = new Backhaul({
    url: wsUrl,
    headers: http.websocketHeaders(),
    tls,
    proxy: http.proxyFor(wsUrl),
    log: ctx.log.child("backhaul"),
    clock,
    backoff: backhaulBackoff(process.env),
    onOpen: () => outbox.linkUp(),
    onText: createRouter(
      {
        accept: (command) => dispatcher.accept(command),
        reject: (id, reason) => dispatcher.reject(id, reason),
        quit: () => lifecycle.requestStop({ kind: "quit" }),
        reconnect: (reason) => backhaul.reconnect(reason ?? "asked by the console"),
        // The 2024 console asks on every connect; its sync routes do not exist, so a commit keeps it current.
        commit: () => void inventory?.commit().catch((err) => log.warn("commit failed", { error: err })),
      },
      ctx.log.child("router"),
    ),
  });
  reconnect = (reason) => backhaul.reconnect(reason);
  backhaulOpen = () => backhaul.isOpen;

  return [
    {
      name: "session",
      async start() {
        try {
          commissioned = await waitForSession({ http, log, clock, signal: lifecycle.signal, configSource: config.source });
          log.info("console session established", { commissioned });
        } catch (err) {
          if (!lifecycle.signal.aborted) throw err;
        }
      },
      stop() {},
    },
    {
      name: "outbox",
      start() {
        outbox.start();
        outbox.enqueue({
          method: "POST",
          path: "/api/events/events/",
          priority: COMMAND_PRIORITY,
          body: { reporter: "alpamon", record: "started", description: `alpamon ${VERSION} started running.` },
        });
      },
      async stop() {
        const drained = await outbox.drain(SHUTDOWN_DRAIN_MS);
        if (!drained) log.warn("stopping with undelivered requests; they are kept on disk and sent after the next start", outbox.stats());
        await outbox.stop();
      },
    },
    metrics.part,
    {
      name: "inventory",
      start: () => inventory?.start(commissioned),
      stop: () => inventory?.stop(),
    },
    {
      name: "log-forwarding",
      start: () => forwarder?.start(),
      stop: () => forwarder?.stop(),
    },
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
    {
      name: "commands",
      start() {},
      async stop() {
        if (!(await dispatcher.idle(SHUTDOWN_COMMANDS_MS))) log.warn("stopping while commands are still running");
      },
    },
    {
      name: "terminals",
      start() {},
      stop: () => terminals.closeAll("the agent is stopping"),
    },
    {
      name: "backhaul",
      start: () => backhaul.start(),
      stop: () => backhaul.stop(),
    },
  ];
}
