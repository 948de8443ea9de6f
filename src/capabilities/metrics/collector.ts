// The metrics collector: fetches the check configuration from the console (retrying while it is unreachable,
// re-checking hourly when it answers 404), builds the checks, and runs them on the scheduler, with a
// retention clean-up of its own. Never blocks on delivery (every post goes to the durable outbox) and never
// spawns a process; stop() cancels everything it started and waits for it.
import type { ConsoleHttp } from "../../console/http.ts";
import type { Outbox } from "../../console/outbox/outbox.ts";
import type { StateDb } from "../../db/open.ts";
import type { Logger } from "../../log/logger.ts";
import type { Clock } from "../../platform/clock.ts";
import { createMetricsStore } from "../../db/metrics.ts";
import { HOUR_MS } from "../../db/rollup.ts";
import { effectiveRetention, pruneMetrics } from "./checks/cleanup.ts";
import { DEFAULT_STATFS_TIMEOUT_MS, Problems, type AnyStatfs, type CheckContext, type Retention } from "./checks/context.ts";
import { buildTasks } from "./checks/registry.ts";
import { batchSamples, type BatchedMetricsStore } from "./batched-store.ts";
import { parseCollectorConfig, type CheckEntry } from "./config.ts";
import { Scheduler, type RetryPolicy } from "./scheduler.ts";

export const CONFIG_PATH = "/api/metrics/config/";
export const CONFIG_TIMEOUT_MS = 10_000;

export interface CollectorOptions {
  http: Pick<ConsoleHttp, "request">;
  outbox: Pick<Outbox, "enqueue">;
  state: StateDb;
  clock: Clock;
  log: Logger;
  procRoot?: string;
  sysRoot?: string;
  /** Default: node:fs's asynchronous statfs. */
  statfs?: AnyStatfs;
  statfsTimeoutMs?: number;
  /** Raw and hourly retention; never below 1 h / 24 h. Default 2 h / 48 h. */
  retention?: Partial<Retention>;
  /** Backoff of the config fetch while the console is unreachable or answers garbage. */
  configRetry?: { baseMs: number; capMs: number };
  /** How often a 404 (no metrics API on this console) is re-checked. */
  notFoundRecheckMs?: number;
  /** How often the collector's own clean-up runs (besides a configured `cleanup` check). */
  pruneEveryMs?: number;
  checkRetry?: RetryPolicy;
  random?: () => number;
}

export type CollectorState = "stopped" | "fetching-config" | "disabled" | "running";

export class Collector {
  private abort: AbortController | undefined;
  private main: Promise<void> | undefined;
  private checks: Scheduler | undefined;
  private readonly housekeeping: Scheduler;
  private readonly retention: Retention;
  private readonly ctx: CheckContext;
  /** Samples of one event-loop turn go to SQLite in one transaction (batched-store.ts). */
  private readonly metrics: BatchedMetricsStore;
  private current: CollectorState = "stopped";
  private taskNames: string[] = [];
  private restarting: Promise<void> = Promise.resolve();

  constructor(private readonly options: CollectorOptions) {
    const { clock, log } = options;
    this.retention = effectiveRetention(options.retention);
    const problems = new Problems(log);
    this.metrics = batchSamples(createMetricsStore(options.state), problems);
    this.ctx = {
      state: options.state,
      metrics: this.metrics,
      clock,
      log,
      enqueue: (item) => options.outbox.enqueue(item),
      procRoot: options.procRoot ?? "/proc",
      sysRoot: options.sysRoot ?? "/sys",
      statfs: options.statfs,
      statfsTimeoutMs: options.statfsTimeoutMs ?? DEFAULT_STATFS_TIMEOUT_MS,
      problems,
    };
    this.housekeeping = new Scheduler({ clock, log });
  }

  get state(): CollectorState {
    return this.current;
  }

  /** Names of the running check tasks (`<type>#<n>`). */
  get tasks(): readonly string[] {
    return this.taskNames;
  }

  get retentionMs(): Retention {
    return { ...this.retention };
  }

  /** Starts fetching the configuration and then the checks; returns at once. Calling it twice does nothing. */
  start(): void {
    if (this.abort) return;
    const abort = new AbortController();
    this.abort = abort;
    this.housekeeping.start([
      {
        name: "retention",
        intervalMs: this.options.pruneEveryMs ?? HOUR_MS,
        first: "now",
        run: () => void pruneMetrics(this.ctx, this.retention),
      },
    ]);
    this.main = this.run(abort.signal).catch((err) => {
      this.options.log.error("metrics collector stopped on an unexpected error", { error: err });
    });
  }

  /** Stops the checks and the config fetch, waiting for a running check to return. */
  async stop(): Promise<void> {
    const abort = this.abort;
    if (!abort) return;
    abort.abort(new Error("collector stopped"));
    await this.main;
    await this.checks?.stop();
    this.checks = undefined;
    await this.housekeeping.stop();
    this.metrics.flush();
    this.abort = undefined;
    this.main = undefined;
    this.taskNames = [];
    this.current = "stopped";
  }

  /** `restart collector`: stop, re-fetch the configuration, rebuild the checks. Safe to call at any time. */
  restart(): Promise<void> {
    this.restarting = this.restarting.then(async () => {
      this.options.log.info("restarting the metrics collector");
      await this.stop();
      this.start();
    });
    return this.restarting;
  }

  private async run(signal: AbortSignal): Promise<void> {
    const entries = await this.fetchConfig(signal);
    if (!entries || signal.aborted) return;
    const tasks = buildTasks(entries, this.ctx, this.retention);
    this.checks = new Scheduler({
      clock: this.options.clock,
      log: this.options.log,
      ...(this.options.checkRetry ? { retry: this.options.checkRetry } : {}),
    });
    this.checks.start(tasks);
    this.taskNames = tasks.map((t) => t.name);
    this.current = "running";
    this.options.log.info("metrics collector started", { checks: tasks.length, types: [...new Set(entries.map((e) => e.type))].join(",") });
  }

  /** The configured checks, or undefined when stopped first. Retries forever; a 404 re-checks hourly. */
  private async fetchConfig(signal: AbortSignal): Promise<CheckEntry[] | undefined> {
    const { http, clock, log } = this.options;
    const retry = this.options.configRetry ?? { baseMs: 5_000, capMs: 5 * 60_000 };
    const random = this.options.random ?? Math.random;
    let failures = 0;
    let saidDisabled = false;
    while (!signal.aborted) {
      if (this.current !== "disabled") this.current = "fetching-config";
      const result = await http.request("GET", CONFIG_PATH, { timeoutMs: CONFIG_TIMEOUT_MS, signal });
      if (signal.aborted) return undefined;
      let wait: number;
      if (result.status === 404) {
        this.current = "disabled";
        if (!saidDisabled) log.info("the console has no metrics API (404); metrics are off, re-checking every hour");
        saidDisabled = true;
        failures = 0;
        wait = this.options.notFoundRecheckMs ?? HOUR_MS;
      } else {
        const problem =
          result.status === 200 ? this.parse(result.text) : `HTTP ${result.status || `error: ${result.error ?? "no answer"}`}`;
        if (typeof problem !== "string") return problem;
        const ceiling = Math.min(retry.capMs, retry.baseMs * 2 ** Math.min(failures, 30));
        wait = Math.max(1, Math.floor(ceiling / 2 + (random() * ceiling) / 2));
        const fields = { problem, retry_in_ms: wait };
        if (failures === 0) log.warn("cannot get the metrics configuration; retrying", fields);
        else log.debug("still cannot get the metrics configuration", fields);
        failures++;
      }
      try {
        await clock.sleep(wait, signal);
      } catch {
        return undefined;
      }
    }
    return undefined;
  }

  /** The entries, or a problem description when the body as a whole is unusable. */
  private parse(text: string): CheckEntry[] | string {
    try {
      const { entries, warnings } = parseCollectorConfig(text);
      for (const warning of warnings)
        this.options.log.warn("skipping a metrics check from the console's configuration", { problem: warning });
      return entries;
    } catch (err) {
      return err instanceof Error ? err.message : String(err);
    }
  }
}
