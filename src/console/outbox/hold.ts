// The outbox's link-wide hold. Per-row backoff alone lets a down console see N/30 requests a second from an
// agent with N queued rows (every row retries on its own clock), so a backlog turns each agent into a storm
// when the console comes back. After a failure that says "the console is not there" (no answer, 429, 502,
// 503, 504) the hold keeps every row back, new ones too, and lets one probe through per jittered, growing
// delay; the first answer of any kind ends it. Drain and a connected backhaul bypass it. It remembers the row
// the last failed probe carried and logs one info line at each end of a hold. Never touches the database or
// the network; the caller passes monotonic ms.
import type { Logger } from "../../log/logger.ts";

/** Statuses that speak for the console as a whole, not for one request. 0 is "no answer at all". */
export function isLinkFailure(status: number): boolean {
  return status === 0 || status === 429 || status === 502 || status === 503 || status === 504;
}

/** May a sender claim a row now? "probe" means yes, but it is the only one until it settles. */
export type HoldDecision = "open" | "probe" | "closed";

export interface Claim {
  decision: HoldDecision;
  /** A row a probe should not repeat while another is ready. */
  avoid: number | undefined;
}

export class LinkHold {
  private held = false;
  /** Failed probe rounds since the hold last ended; the exponent of the next hold. */
  private roundsFailed = 0;
  /** Monotonic ms from which one probe may go. */
  private probeAt = 0;
  private probing = false;
  private lastFailedProbe: number | undefined;

  /** `reachable`: true while another channel proves the console there (see OutboxOptions.reachable). */
  constructor(
    private readonly log: Logger,
    private readonly reachable: (() => boolean) | undefined,
  ) {}

  /** drain() tries everything now; a connected backhaul means the console is there. */
  bypassed(draining: boolean): boolean {
    if (draining) return true;
    try {
      return this.reachable?.() === true;
    } catch {
      return false;
    }
  }

  claim(now: number, draining: boolean): Claim {
    const decision = this.bypassed(draining) ? "open" : this.decide(now);
    return { decision, avoid: decision === "probe" ? this.lastFailedProbe : undefined };
  }

  /** A hold is on: the console stopped answering and only probes go. */
  get holding(): boolean {
    return this.held;
  }

  /** The round a request claimed now belongs to; its failure escalates the hold only if no other did first. */
  get round(): number {
    return this.roundsFailed;
  }

  startProbe(): void {
    this.probing = true;
  }

  /** The probe settled, threw or was aborted; another may go once the hold allows it. */
  endProbe(): void {
    this.probing = false;
  }

  /** The console answered something: the link is up. True when that ended a hold. */
  answered(rows: number): boolean {
    this.lastFailedProbe = undefined;
    const wasHeld = this.held;
    this.held = false;
    this.roundsFailed = 0;
    this.probeAt = 0;
    if (!wasHeld) return false;
    this.log.info("console answers again; the outbox resumes", { rows });
    return true;
  }

  /**
   * A request of round `round` failed at the link level; the row itself waits `holdMs` (computed with
   * exponent max(attempts, round)), and so does the hold. Requests that were already in flight when another
   * failure started the hold do not escalate it again. Ignored while bypassed.
   */
  failed(f: {
    round: number;
    probe: boolean;
    rowId: number;
    status: number;
    now: number;
    holdMs: number;
    rows: number;
    draining: boolean;
  }): void {
    if (this.bypassed(f.draining)) return;
    if (f.probe) this.lastFailedProbe = f.rowId;
    if (f.round < this.roundsFailed) {
      this.probeAt = Math.max(this.probeAt, f.now + f.holdMs);
      return;
    }
    const wasHeld = this.held;
    this.held = true;
    this.roundsFailed = f.round + 1;
    this.probeAt = f.now + f.holdMs;
    if (!wasHeld) {
      this.log.info("console not answering; the outbox holds its rows and probes with one request at a time", {
        status: f.status,
        rows: f.rows,
      });
    }
  }

  /**
   * When the senders' shared timer must fire: the next probe during a hold, nothing while a probe is out (its
   * end wakes the senders), else the earliest row in backoff.
   */
  timerAt(now: number, draining: boolean, nextDueAt: () => number | undefined): number | undefined {
    if (this.bypassed(draining)) return nextDueAt();
    if (this.held && !this.probing && now < this.probeAt) return this.probeAt;
    return this.decide(now) === "closed" ? undefined : nextDueAt();
  }

  private decide(now: number): HoldDecision {
    if (!this.held) return "open";
    if (this.probing || now < this.probeAt) return "closed";
    return "probe";
  }
}
