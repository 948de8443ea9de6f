// Runs the collector's checks: one timer per task at fixed slots (origin + k × interval, so it never drifts),
// one run of a task at a time, failed runs retried with backoff but never past the task's next slot.
// Never polls, never lets one task's failure or slowness hold up another, never runs a task after stop().
import type { Logger } from "../../log/logger.ts";
import type { Clock } from "../../platform/clock.ts";

export interface ScheduledTask {
  /** Unique among the scheduler's tasks; used in log lines. */
  name: string;
  intervalMs: number;
  /** "now": first run at start (collectors prime their baselines, roll-ups catch up); "interval": one interval later. */
  first: "now" | "interval";
  /**
   * Put the slots on wall-clock multiples of the interval plus this offset (hourly/daily roll-ups run just
   * after the hour or day ends). Undefined: slots count from start.
   */
  wallOffsetMs?: number;
  run(signal: AbortSignal): Promise<void> | void;
}

export interface RetryPolicy {
  baseMs: number;
  /** Retries after the first failure of a slot (1, 2, 4, 8, 16 × baseMs). */
  maxRetries: number;
}

const MAX_TIMER_MS = 86_400_000;

export const DEFAULT_RETRY: RetryPolicy = { baseMs: 1_000, maxRetries: 5 };

export interface SchedulerOptions {
  clock: Clock;
  log: Logger;
  retry?: RetryPolicy;
}

export interface TaskStats {
  runs: number;
  failures: number;
  /** The last run failed (a warning was logged when the streak began). */
  failing: boolean;
  /** Slots that passed while the previous run was still going. */
  skipped: number;
}

export class Scheduler {
  private abort: AbortController | undefined;
  private loops: Promise<void>[] = [];
  private readonly stats = new Map<string, TaskStats>();
  private readonly retry: RetryPolicy;

  constructor(private readonly options: SchedulerOptions) {
    this.retry = options.retry ?? DEFAULT_RETRY;
  }

  /** Starts every task's timer. Throws if already running. */
  start(tasks: readonly ScheduledTask[]): void {
    if (this.abort) throw new Error("scheduler already running");
    const abort = new AbortController();
    this.abort = abort;
    this.stats.clear();
    for (const task of tasks) {
      if (!(task.intervalMs > 0)) throw new Error(`task ${task.name}: interval must be positive`);
      this.stats.set(task.name, { runs: 0, failures: 0, failing: false, skipped: 0 });
      this.loops.push(this.loop(task, abort.signal));
    }
  }

  /** Cancels every timer, signals running tasks and waits for them to return. */
  async stop(): Promise<void> {
    const abort = this.abort;
    if (!abort) return;
    abort.abort(new Error("scheduler stopped"));
    await Promise.all(this.loops);
    this.loops = [];
    this.abort = undefined;
  }

  statsOf(name: string): TaskStats | undefined {
    const s = this.stats.get(name);
    return s && { ...s };
  }

  private async loop(task: ScheduledTask, signal: AbortSignal): Promise<void> {
    const { clock } = this.options;
    const interval = task.intervalMs;
    let origin = clock.monotonic();
    if (task.wallOffsetMs !== undefined) {
      const wall = clock.now();
      const offset = task.wallOffsetMs;
      const nextWall = Math.floor((wall - offset) / interval) * interval + interval + offset;
      origin += nextWall - wall - interval; // slot 1 is the next aligned instant; slot 0 is "now or just past"
    }
    let slot = task.first === "now" ? 0 : 1;
    const stats = this.stats.get(task.name)!;
    while (!signal.aborted) {
      const due = origin + slot * interval;
      if (!(await this.sleepUntil(due, signal))) return;
      await this.runSlot(task, origin + (slot + 1) * interval, signal, stats);
      const passed = Math.floor((clock.monotonic() - origin) / interval) + 1;
      if (passed > slot + 1) stats.skipped += passed - slot - 1;
      slot = Math.max(slot + 1, passed);
    }
  }

  /** One slot: the run, and its retries while they fit before the next slot. */
  private async runSlot(task: ScheduledTask, nextDue: number, signal: AbortSignal, stats: TaskStats): Promise<void> {
    const { clock, log } = this.options;
    for (let retry = 0; !signal.aborted; retry++) {
      stats.runs++;
      try {
        await task.run(signal);
        if (stats.failing) log.info("metric check works again", { task: task.name });
        stats.failing = false;
        return;
      } catch (err) {
        if (signal.aborted) return;
        stats.failures++;
        const delay = this.retry.baseMs * 2 ** retry;
        const giveUp = retry >= this.retry.maxRetries || clock.monotonic() + delay >= nextDue;
        const fields = { task: task.name, error: describe(err), ...(giveUp ? { next: "at its next slot" } : { retry_in_ms: delay }) };
        // One warning per failure streak; a check that keeps failing every 5 s must not flood the log.
        if (!stats.failing) log.warn("metric check failed", fields);
        else log.debug("metric check failed again", fields);
        stats.failing = true;
        if (giveUp) return;
        if (!(await this.sleepUntil(clock.monotonic() + delay, signal))) return;
      }
    }
  }

  /** False when stopped meanwhile. */
  private async sleepUntil(due: number, signal: AbortSignal): Promise<boolean> {
    const { clock } = this.options;
    try {
      // In chunks: a timer longer than 2^31 - 1 ms would fire at once.
      for (let wait = due - clock.monotonic(); wait > 0 && !signal.aborted; wait = due - clock.monotonic()) {
        await clock.sleep(Math.min(wait, MAX_TIMER_MS), signal);
      }
    } catch {
      return false;
    }
    return !signal.aborted;
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
