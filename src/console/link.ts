// The console link: transport only. One HTTP client, the durable outbox, the session check and the backhaul
// WebSocket, as parts started in that order (backhaul last) and stopped in reverse, with the outbox drained
// so fins of `quit` and `restart` are delivered before the process goes. Knows no command and no capability:
// what arrives on the backhaul goes to the RouterTargets the composition root hands to `backhaulPart`.
import type { AgentConfig } from "../config/schema.ts";
import type { StateDb } from "../db/open.ts";
import type { Logger } from "../log/logger.ts";
import type { Clock } from "../platform/clock.ts";
import type { Lifecycle, Part } from "../platform/lifecycle.ts";
import { USER_AGENT, VERSION } from "../version.ts";
import { Backhaul, backhaulBackoff, backhaulUrl } from "./backhaul.ts";
import { ConsoleHttp } from "./http.ts";
import { PRIORITY_COMMANDS } from "./outbox/item.ts";
import { Outbox, type SettledItem } from "./outbox/outbox.ts";
import { createRouter, type RouterTargets } from "./router.ts";
import { waitForSession } from "./session.ts";
import { buildTlsOptions } from "./tls.ts";

/** How long shutdown waits for the outbox to empty. */
export const SHUTDOWN_DRAIN_MS = 5_000;

export interface ConsoleLinkDeps {
  config: AgentConfig;
  state: StateDb;
  log: Logger;
  clock: Clock;
  lifecycle: Lifecycle;
}

export class ConsoleLink {
  readonly http: ConsoleHttp;
  readonly outbox: Outbox;
  private readonly settledListeners: ((item: SettledItem) => void)[] = [];
  private backhaul: Backhaul | undefined;
  private isCommissioned = false;
  private readonly log: Logger;

  constructor(private readonly deps: ConsoleLinkDeps) {
    const { config, state, clock } = deps;
    this.log = deps.log.child("console");
    const tls = buildTlsOptions(config.ssl);
    if (!config.ssl.verify && config.serverUrl.startsWith("https://")) {
      this.log.warn("TLS certificate verification is turned off ([ssl] verify = false); do not use this in production");
    }
    this.http = new ConsoleHttp({ serverUrl: config.serverUrl, id: config.id, key: config.key, tls, userAgent: USER_AGENT, log: this.log });
    this.outbox = new Outbox({
      state,
      sender: this.http,
      log: deps.log.child("outbox"),
      clock,
      maxRows: config.outbox.maxRows,
      maxBytes: config.outbox.maxBytes,
      onSettled: (item) => {
        for (const listener of this.settledListeners) listener(item);
      },
      // A connected backhaul proves the console is there: no link-wide hold then.
      reachable: () => this.backhaul?.isOpen ?? false,
    });
  }

  /** Whether the console said this server is commissioned (false until the session part has started). */
  get commissioned(): boolean {
    return this.isCommissioned;
  }

  /** Called for every outbox row that was delivered or dropped. */
  onSettled(listener: (item: SettledItem) => void): void {
    this.settledListeners.push(listener);
  }

  /** Closes the backhaul and dials again (no-op before the backhaul part exists). */
  reconnect(reason: string): void {
    this.backhaul?.reconnect(reason);
  }

  /** The session check: waits until the console answers, then knows whether the server is commissioned. */
  sessionPart(): Part {
    const { clock, lifecycle, config } = this.deps;
    return {
      name: "session",
      start: async () => {
        try {
          this.isCommissioned = await waitForSession({
            http: this.http,
            log: this.log,
            clock,
            signal: lifecycle.signal,
            configSource: config.source,
          });
          this.log.info("console session established", { commissioned: this.isCommissioned });
        } catch (err) {
          if (!lifecycle.signal.aborted) throw err;
        }
      },
      stop() {},
    };
  }

  /** The outbox, with the startup event; on stop it is drained for a while and the rest stays on disk. */
  outboxPart(): Part {
    return {
      name: "outbox",
      start: () => {
        this.outbox.start();
        this.outbox.enqueue({
          method: "POST",
          path: "/api/events/events/",
          priority: PRIORITY_COMMANDS,
          body: { reporter: "alpamon", record: "started", description: `alpamon ${VERSION} started running.` },
        });
      },
      stop: async () => {
        const drained = await this.outbox.drain(SHUTDOWN_DRAIN_MS);
        if (!drained)
          this.log.warn("stopping with undelivered requests; they are kept on disk and sent after the next start", this.outbox.stats());
        await this.outbox.stop();
      },
    };
  }

  /** The backhaul WebSocket; what arrives goes to `targets`. */
  backhaulPart(targets: Omit<RouterTargets, "reconnect" | "ping">): Part {
    const wsUrl = backhaulUrl(this.deps.config.serverUrl);
    const backhaul = new Backhaul({
      url: wsUrl,
      http: this.http,
      log: this.deps.log.child("backhaul"),
      clock: this.deps.clock,
      backoff: backhaulBackoff(process.env),
      onOpen: () => this.outbox.linkUp(),
      onText: createRouter(
        { ...targets, reconnect: (reason) => backhaul.reconnect(reason ?? "asked by the console"), ping: () => backhaul.answerPing() },
        this.deps.log.child("router"),
      ),
    });
    this.backhaul = backhaul;
    return { name: "backhaul", start: () => backhaul.start(), stop: () => backhaul.stop() };
  }
}
