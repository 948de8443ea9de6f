// The outbox's view of the link as a whole. Per-row backoff alone lets a down console see N/30 requests a
// second from an agent with N queued rows (every row retries on its own clock), so a backlog turns each
// agent into a storm when the console comes back. After a failure that says "the console is not there"
// (no answer, 429, 502, 503, 504) the gate holds every row, new ones too, and lets one probe through per
// jittered, growing delay; the first answer of any kind opens it again. Pure: no clock, no I/O.

/** Statuses that speak for the console as a whole, not for one request. 0 is "no answer at all". */
export function isLinkFailure(status: number): boolean {
  return status === 0 || status === 429 || status === 502 || status === 503 || status === 504;
}

export type GateDecision = "open" | "probe" | "closed";

export class LinkGate {
  private held = false;
  /** Failed probe rounds since the gate last opened; the exponent of the next hold. */
  private roundsFailed = 0;
  /** Monotonic ms from which one probe may go. */
  private probeAt = 0;
  private probing = false;

  get isHeld(): boolean {
    return this.held;
  }

  /** The round a request claimed now belongs to; its failure escalates the hold only if no other did first. */
  get round(): number {
    return this.roundsFailed;
  }

  /** May a sender claim a row now? "probe" means yes, but it is the only one until it settles. */
  decide(now: number): GateDecision {
    if (!this.held) return "open";
    if (this.probing || now < this.probeAt) return "closed";
    return "probe";
  }

  startProbe(): void {
    this.probing = true;
  }

  /** The probe settled, threw or was aborted; another may go once the hold allows it. */
  endProbe(): void {
    this.probing = false;
  }

  /**
   * A request of round `round` failed at the link level; the row itself waits `delayMs` (computed with
   * exponent max(attempts, round)), and so does the gate. Requests that were already in flight when
   * another failure closed the gate do not escalate it again.
   */
  fail(round: number, now: number, delayMs: number): void {
    if (round < this.roundsFailed) {
      this.probeAt = Math.max(this.probeAt, now + delayMs);
      return;
    }
    this.held = true;
    this.roundsFailed = round + 1;
    this.probeAt = now + delayMs;
  }

  /** The console answered something: the link is up. True when that ended a hold. */
  open(): boolean {
    const wasHeld = this.held;
    this.held = false;
    this.roundsFailed = 0;
    this.probeAt = 0;
    return wasHeld;
  }

  /** When the timer must wake a parked sender for the next probe; undefined when the gate does not decide it. */
  wakeAt(now: number): number | undefined {
    if (!this.held || this.probing || now >= this.probeAt) return undefined;
    return this.probeAt;
  }
}
