// The durable outbox: every console-bound request is written to SQLite before it is sent, then delivered by
// a small pool of senders, lowest priority number first, with per-row backoff and the 2024 dialect fallback.
// While the console does not answer at all, a link-wide hold (hold.ts) lets one probe
// through at a time. Dialect memory and overflow warnings live in outbox-dialects.ts and outbox-overflow.ts.
// It never loses a row the console has not accepted (2xx) or refused (4xx), and never logs a request body.
import type { StateDb } from "../../db/open.ts";
import type { Logger } from "../../log/logger.ts";
import { systemClock, type Clock } from "../../platform/clock.ts";
import { fullJitterDelay } from "../backoff.ts";
import type { HttpMethod, HttpResult } from "../http.ts";
import { fallbackForm, isProtected, outcomeOf, PROTECTED_PRIORITY, toRow, type OutboxItem, type WireForm } from "./item.ts";
import { Schedule, type ScheduleEntry } from "./schedule.ts";
import { isLinkFailure, LinkHold } from "./hold.ts";
import { OverflowEpisodes } from "./overflow.ts";
import { Dialects, type DialectState } from "./dialects.ts";
import { OutboxStore, type NewRow, type OutboxRow } from "../../db/outbox-store.ts";
import { ConsoleMemory } from "../../db/console-memory.ts";
import { UnwrittenChanges } from "./unwritten.ts";
import { Wakeups } from "./wake.ts";
import { DEFAULT_COLLECT_EVERY_BYTES, GarbagePacer } from "./pacer.ts";

export { PRIORITY_COMMANDS, PRIORITY_INVENTORY, PRIORITY_LOGS, outcomeOf, type OutboxItem } from "./item.ts";

export const DEFAULT_SENDERS = 4;
export const DEFAULT_MAX_ROWS = 50_000;
export const DEFAULT_MAX_BYTES = 64 * 1024 * 1024;
/** Per-row retry: full jitter over 1 s·2^attempts, capped at a minute, so a fin is never far behind a recovery. */
export const DEFAULT_RETRY = { baseMs: 1_000, capMs: 60_000 };

/** ConsoleHttp satisfies it. */
export interface OutboxSender {
  request(
    method: HttpMethod,
    path: string,
    options: { body?: unknown; timeoutMs?: number; signal?: AbortSignal; headers?: Record<string, string> },
  ): Promise<HttpResult>;
  /** The console the rows go to: what the outbox learns of its dialects is remembered for this URL. */
  readonly serverUrl?: string;
}

export interface SettledItem {
  /** 0 for an item dropped before it was written, or delivered by its send-first attempt (OutboxItem.sendFirst). */
  id: number;
  /** The request that settled it (the fallback form when that was sent). */
  method: HttpMethod;
  path: string;
  /** The console's status; 0 when the row was dropped without an answer (size cap). */
  status: number;
  outcome: "delivered" | "dropped";
}

export interface OutboxOptions {
  state: StateDb;
  sender: OutboxSender;
  log: Logger;
  clock?: Clock;
  random?: () => number;
  senders?: number;
  maxRows?: number;
  maxBytes?: number;
  retry?: { baseMs: number; capMs: number };
  onSettled?: (item: SettledItem) => void;
  /**
   * True while another channel proves the console reachable (the backhaul is connected). No hold is kept then:
   * failures are about the requests, and each row backs off on its own.
   */
  reachable?: () => boolean;
  /** A full garbage collection after this many bytes of rows queued and sent (pacer.ts); 0 turns it off. */
  collectEveryBytes?: number;
}

/** A type alias, not an interface, so it can be passed as log fields. */
export type OutboxStats = {
  rows: number;
  bytes: number;
  /** Rows dropped since this Outbox was made: refused by the console, or over the caps. */
  dropped: number;
};

export class Outbox {
  private readonly store: OutboxStore;
  private readonly unwritten: UnwrittenChanges;
  private readonly schedule = new Schedule();
  private readonly hold: LinkHold;
  private readonly dialects: Dialects;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly senders: number;
  private readonly maxRows: number;
  /** Acks and fins (PRIORITY_COMMANDS, PRIORITY_FINS) may go over it; they are never dropped for size (enqueue). */
  readonly maxBytes: number;
  private readonly retryPolicy: { baseMs: number; capMs: number };
  private readonly log: Logger;

  private loops: Promise<void>[] | undefined;
  private running = false;
  /** drain() started the senders and stops them when it ends, unless start() was called meanwhile. */
  private drainOwnsSenders = false;
  private abort = new AbortController();
  private readonly wake: Wakeups;
  private draining = 0;
  private dropped = 0;
  private readonly overflow: OverflowEpisodes;
  private readonly pacer: GarbagePacer;
  /** Send-first items on the wire (OutboxItem.sendFirst); drain() and stop() wait for them. */
  private readonly firstSends = new Set<Promise<void>>();

  constructor(private readonly options: OutboxOptions) {
    this.store = new OutboxStore(options.state.sqlite);
    this.clock = options.clock ?? systemClock;
    this.random = options.random ?? Math.random;
    this.senders = Math.max(1, Math.floor(options.senders ?? DEFAULT_SENDERS));
    this.maxRows = options.maxRows ?? DEFAULT_MAX_ROWS;
    this.maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
    this.retryPolicy = options.retry ?? DEFAULT_RETRY;
    this.log = options.log;
    this.wake = new Wakeups(this.clock);
    this.pacer = new GarbagePacer(options.collectEveryBytes ?? DEFAULT_COLLECT_EVERY_BYTES);
    this.hold = new LinkHold(this.log, options.reachable);
    this.overflow = new OverflowEpisodes(this.log, { maxRows: this.maxRows, maxBytes: this.maxBytes });
    this.dialects = new Dialects(new ConsoleMemory(options.state.sqlite, options.sender.serverUrl ?? "", this.clock.now()), this.log, () =>
      this.clock.now(),
    );
    this.unwritten = new UnwrittenChanges(this.store, this.log, () => this.clock.monotonic());
    // Rows left by an earlier run keep their backoff, converted to this process's monotonic clock; a due
    // time further away than the cap can only come from a wall clock that went back, so it is clamped.
    const now = this.clock.now();
    const mono = this.clock.monotonic();
    for (const row of this.store.loadMeta()) {
      const wait = Math.min(Math.max(0, row.nextAttemptAt - now), this.retryPolicy.capMs);
      this.schedule.add({ id: row.id, priority: row.priority, afterId: row.afterId, bytes: row.bytes }, mono + wait, mono);
    }
  }

  /**
   * Writes the request durably (the row is on disk when this returns) and wakes a sender. Returns the
   * row id, or 0 when the item alone is larger than maxBytes (refused, logged, counted as dropped) or when a
   * send-first item went straight out (OutboxItem.sendFirst: written only if that attempt is to be retried). Rows of
   * PRIORITY_COMMANDS and PRIORITY_FINS (acks, events, fins) are never refused nor dropped for the caps: what
   * is acknowledged must get its fin, so lower-priority rows make room, and when there are none left the caps
   * are exceeded (warned).
   * Throws on an invalid item and when the database cannot be written.
   */
  enqueue(item: OutboxItem): number {
    const row = toRow(item);
    if (row.bytes > this.maxBytes && !isProtected(row.priority)) {
      this.log.warn("request larger than the outbox size cap; dropped it", {
        method: row.method,
        path: row.path,
        bytes: row.bytes,
        max_bytes: this.maxBytes,
      });
      this.notifySettled({ id: 0, method: row.method, path: row.path, status: 0, outcome: "dropped" });
      return 0;
    }
    if (row.bytes > this.maxBytes)
      this.log.warn("an ack or fin larger than the outbox size cap; kept it", { path: row.path, bytes: row.bytes });
    if (item.sendFirst && this.mayGoFirst(row)) {
      this.goFirst(row);
      return 0;
    }
    return this.write(row);
  }

  /** A send-first item goes straight out only on a quiet, running outbox (OutboxItem.sendFirst). */
  private mayGoFirst(row: NewRow): boolean {
    return (
      this.running &&
      row.afterId === null &&
      row.fallback === null &&
      this.firstSends.size < this.senders &&
      !this.hold.holding &&
      this.schedule.nextDueAt() === undefined
    );
  }

  private goFirst(row: NewRow): void {
    const sending: Promise<void> = this.sendFirst(row)
      .catch((err) => this.log.error("outbox could not keep a request that was not delivered", { path: row.path, error: describe(err) }))
      .finally(() => {
        this.firstSends.delete(sending);
        this.wake.changed();
      });
    this.firstSends.add(sending);
  }

  /**
   * The first attempt of a send-first item. Delivered or refused for good (4xx): settled as a row would be,
   * never written. Anything that would be retried (no answer, 5xx, 401/403/408/429) makes it an ordinary row,
   * written now and retried by the senders.
   */
  private async sendFirst(row: NewRow): Promise<void> {
    const result = await this.send(row, row.timeoutMs, this.abort.signal);
    this.pacer.add(row.bytes);
    const outcome = outcomeOf(result.status);
    if (outcome !== "retry") {
      // Delivered, or refused for good (a 4xx that sending again cannot change): settled as a row would be.
      if (outcome === "drop") this.refused(row.method, row.path, result.status);
      this.notifySettled({
        id: 0,
        method: row.method,
        path: row.path,
        status: result.status,
        outcome: outcome === "drop" ? "dropped" : "delivered",
      });
      return;
    }
    this.log.debug("a request sent before it was written was not delivered; the outbox keeps it", {
      method: row.method,
      path: row.path,
      status: result.status,
      ...(result.error ? { error: result.error } : {}),
    });
    this.write(row);
  }

  /** Inserts a validated row (making room under the caps) and wakes a sender; returns its id. */
  private write(row: NewRow): number {
    this.unwritten.retry();
    const victims: { id: number; method: HttpMethod; path: string }[] = [];
    const id = this.store.immediate(() => {
      const id = this.store.insert(row, this.clock.now());
      let rows = this.schedule.rows + 1;
      let bytes = this.schedule.bytes + row.bytes;
      while (rows > this.maxRows || bytes > this.maxBytes) {
        const pick = this.store.pickVictim((v) => this.schedule.isInflight(v), this.schedule.inflight, PROTECTED_PRIORITY);
        const victim = pick && this.store.delete(pick.id);
        if (!victim) {
          this.overflow.keptOverCaps(rows, bytes); // only acks, fins and rows in flight left: they stay
          break;
        }
        victims.push(victim);
        rows--;
        bytes -= victim.bytes;
      }
      return id;
    });
    const mono = this.clock.monotonic();
    this.schedule.add({ id, priority: row.priority, afterId: row.afterId, bytes: row.bytes }, mono, mono);
    for (const v of victims) {
      this.schedule.remove(v.id);
      this.notifySettled({ id: v.id, method: v.method, path: v.path, status: 0, outcome: "dropped" });
    }
    if (victims.length > 0) this.overflow.dropped(victims.length, this.clock.monotonic());
    this.wake.wakeAll();
    this.wake.changed();
    this.pacer.add(row.bytes);
    return id;
  }

  /** Starts the senders; rows left from a previous run are sent too. Calling it again does nothing. */
  start(): void {
    this.drainOwnsSenders = false;
    if (this.loops) return;
    this.abort = new AbortController();
    const signal = this.abort.signal;
    this.running = true; // before the loops: they may arm the timer in their first synchronous turn
    this.loops = Array.from({ length: this.senders }, () => this.senderLoop(signal));
  }

  /**
   * Tries to deliver everything now, ignoring backoff waits, for at most `deadlineMs` milliseconds from
   * now. A row that fails meanwhile is retried within the base delay. True when the outbox is empty.
   * Starts the senders for the duration when they are not running.
   */
  async drain(deadlineMs: number): Promise<boolean> {
    const until = this.clock.monotonic() + Math.max(0, deadlineMs);
    const startedHere = !this.loops;
    this.draining++;
    try {
      this.schedule.promoteAll();
      if (startedHere) {
        this.start();
        this.drainOwnsSenders = true;
      } else this.wake.wakeAll();
      while (this.schedule.rows > 0 || this.firstSends.size > 0) {
        const left = until - this.clock.monotonic();
        if (left <= 0 || !this.running) return false;
        await this.wake.nextChange(left);
      }
      return true;
    } finally {
      this.draining--;
      if (startedHere && this.drainOwnsSenders) {
        this.drainOwnsSenders = false;
        await this.stop();
      }
    }
  }

  /** Aborts in-flight requests (their rows stay as they were) and waits for the senders to end. */
  async stop(): Promise<void> {
    const loops = this.loops;
    if (!loops) return;
    this.running = false;
    this.abort.abort();
    this.wake.disarm();
    this.wake.wakeAll();
    await Promise.all(loops);
    await Promise.all(this.firstSends); // aborted: each is written as a row for the next start
    this.loops = undefined;
    this.overflow.report();
    this.wake.changed();
  }

  /**
   * Something else (the backhaul) reached the console: a hold ends now and every row in backoff goes, instead
   * of waiting for the next probe. Does nothing while nothing is held.
   */
  linkUp(): void {
    if (!this.hold.answered(this.schedule.rows)) return;
    this.schedule.promoteAll();
    this.wake.wakeAll();
  }

  /**
   * What the outbox knows of a dialect: "fallback" once the console refused its primary form (remembered in
   * the state DB), "primary" once the console accepted a primary form in this process, else "unknown".
   */
  dialect(name: string): DialectState {
    return this.dialects.state(name);
  }

  /** The caps, for a sender that holds back before the outbox is full (streamed output). */
  limits(): { maxRows: number; maxBytes: number } {
    return { maxRows: this.maxRows, maxBytes: this.maxBytes };
  }

  stats(): OutboxStats {
    return { rows: this.schedule.rows, bytes: this.schedule.bytes, dropped: this.dropped };
  }

  private async senderLoop(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        const now = this.clock.monotonic();
        const { decision, avoid } = this.hold.claim(now, this.draining > 0);
        const entry = decision === "closed" ? undefined : this.schedule.claim(now, avoid);
        if (!entry) {
          this.armTimer();
          await this.wake.park();
          continue;
        }
        const probe = decision === "probe";
        if (probe) this.hold.startProbe();
        try {
          await this.sendRow(entry, signal, this.hold.round, probe);
        } finally {
          if (probe) {
            this.hold.endProbe();
            this.wake.wakeAll();
          }
        }
      } catch (err) {
        this.log.error("outbox sender failed; it goes on", { error: describe(err) });
        await this.clock.sleep(this.retryPolicy.baseMs, signal).catch(() => {});
      }
    }
  }

  /** `round` is the hold's round when the row was claimed (see LinkHold.failed). */
  private async sendRow(entry: ScheduleEntry, signal: AbortSignal, round: number, probe: boolean): Promise<void> {
    try {
      const row = this.store.get(entry.id);
      if (!row) {
        // Deleted behind our back (another process); nothing left to send.
        this.schedule.remove(entry.id);
        this.afterRemoval();
        return;
      }
      const fallback = row.fallback;
      const choice = fallback ? this.dialects.choose(fallback.dialect) : "primary";
      const fallenBack = choice === "fallback";
      if (fallback?.drop && fallenBack) {
        this.finish(row.id, { method: row.method, path: row.path, status: 0 }, "dropped");
        return;
      }
      let request: WireForm = fallback && fallenBack ? fallbackForm(fallback, row.body) : row;
      let result = await this.send(request, row.timeoutMs, signal);
      this.pacer.add(row.bytes);
      if (fallback && request === row && (fallback.on ?? [404]).includes(result.status)) {
        this.dialects.switchToFallback(fallback, row, result.status);
        if (fallback.drop) {
          // No older form: the row goes quietly (the switch was logged once).
          this.finish(row.id, { method: row.method, path: row.path, status: result.status }, "dropped");
          return;
        }
        request = fallbackForm(fallback, row.body);
        result = await this.send(request, row.timeoutMs, signal);
      }
      if (fallback && request === row && outcomeOf(result.status) === "delivered") this.dialects.primaryAccepted(fallback.dialect);
      else if (fallback && choice === "probe" && request === row) this.dialects.probeEnded(fallback.dialect);
      this.settle(row, request, result, signal, { round, probe });
    } catch (err) {
      // The row must not stay "in flight" forever; it is tried again after a short wait.
      if (this.schedule.isInflight(entry.id)) {
        this.schedule.retry(entry.id, this.clock.monotonic() + this.retryPolicy.baseMs);
        this.armTimer();
      }
      throw err;
    }
  }

  private async send(request: WireForm, timeoutMs: number, signal: AbortSignal): Promise<HttpResult> {
    try {
      const options = {
        timeoutMs,
        signal,
        ...(request.body === null ? {} : { body: request.body }),
        ...(request.headers ? { headers: request.headers } : {}),
      };
      return await this.options.sender.request(request.method, request.path, options);
    } catch (err) {
      return { status: 0, text: "", error: describe(err) };
    }
  }

  private settle(
    row: OutboxRow,
    request: WireForm,
    result: HttpResult,
    signal: AbortSignal,
    { round, probe }: { round: number; probe: boolean },
  ): void {
    const { method, path } = request;
    const outcome = outcomeOf(result.status);
    const linkFailure = isLinkFailure(result.status);
    if (outcome === "delivered") {
      // A row that had failed got through, or a hold ended: the console is back, so every row waiting out its
      // backoff goes now instead of up to a minute later.
      if (this.hold.answered(this.schedule.rows) || row.attempts > 0) {
        this.schedule.promoteAll();
        this.wake.wakeAll();
      }
      this.finish(row.id, { method, path, status: result.status }, "delivered");
      return;
    }
    if (result.status === 0 && signal.aborted) {
      // stop() cut it short: not an attempt; the row is sent again after the next start.
      this.schedule.release(row.id);
      return;
    }
    if (!linkFailure && this.hold.answered(this.schedule.rows)) this.wake.wakeAll(); // even a refusal: the console is there
    if (outcome === "drop") {
      this.refused(method, path, result.status);
      this.finish(row.id, { method, path, status: result.status }, "dropped");
      return;
    }
    // Full jitter from now, forever; while draining, retries stay within the base delay. At least 1 ms, so a
    // sender that fails without waiting for I/O can never spin on the same row without yielding. A link
    // failure grows with the outage (the hold's round), not only with this row's attempts: a row queued
    // during a long outage does not start again at one second. The hold itself grows with the round alone
    // (one poisoned row with many attempts must not hold the others for a minute) and uses the same draw.
    const { baseMs, capMs } = this.retryPolicy;
    const draw = this.random();
    const jitter = (exponent: number) =>
      Math.max(
        1,
        fullJitterDelay(exponent, baseMs, capMs, () => draw),
      );
    const delay = jitter(this.draining > 0 ? 0 : Math.max(row.attempts, linkFailure ? round : 0));
    this.unwritten.reschedule(row.id, row.attempts + 1, this.clock.now() + delay);
    this.schedule.retry(row.id, this.clock.monotonic() + delay);
    if (linkFailure) {
      const hold = { round, probe, rowId: row.id, status: result.status, holdMs: jitter(round), rows: this.schedule.rows };
      this.hold.failed({ ...hold, now: this.clock.monotonic(), draining: this.draining > 0 });
    }
    this.armTimer();
    this.log.debug("outbox will retry", {
      method,
      path,
      status: result.status,
      ...(result.error ? { error: result.error } : {}),
      attempts: row.attempts + 1,
      delay_ms: delay,
    });
  }

  private finish(id: number, sent: { method: HttpMethod; path: string; status: number }, outcome: SettledItem["outcome"]): void {
    this.unwritten.delete(id);
    this.schedule.remove(id);
    this.notifySettled({ id, ...sent, outcome });
    this.afterRemoval();
  }

  private afterRemoval(): void {
    this.overflow.shrank(this.schedule.rows, this.schedule.bytes);
    this.wake.wakeAll(); // rows waiting for this one may be ready now
    this.wake.changed();
  }

  private refused(method: HttpMethod, path: string, status: number): void {
    this.log.warn("console refused a request; dropped it from the outbox", { method, path, status });
  }

  /** Counts a drop and tells the listener (every item settles here once, written or not). */
  private notifySettled(item: SettledItem): void {
    if (item.outcome === "dropped") this.dropped++;
    try {
      this.options.onSettled?.(item);
    } catch (err) {
      this.log.warn("outbox onSettled listener failed", { error: describe(err) });
    }
  }

  /** The shared timer: the earliest row in backoff, or the next probe during a hold (LinkHold.timerAt). */
  private armTimer(): void {
    if (!this.running) return;
    const at = this.hold.timerAt(this.clock.monotonic(), this.draining > 0, () => this.schedule.nextDueAt());
    if (at !== undefined) this.wake.arm(at);
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
