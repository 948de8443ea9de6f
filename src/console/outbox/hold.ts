// The outbox's link-wide hold as the senders see it: the gate's state (outbox-gate.ts) plus what bypasses it
// (drain, a connected backhaul), the row the last failed probe carried, and one info line at each end of a
// hold. Never touches the database or the network; the caller passes monotonic ms.
import type { Logger } from "../../log/logger.ts";
import { type GateDecision, LinkGate } from "./gate.ts";

export interface Claim {
  decision: GateDecision;
  /** A row a probe should not repeat while another is ready. */
  avoid: number | undefined;
}

export class LinkHold {
  private readonly gate = new LinkGate();
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
    const decision = this.bypassed(draining) ? "open" : this.gate.decide(now);
    return { decision, avoid: decision === "probe" ? this.lastFailedProbe : undefined };
  }

  /** The round a request claimed now belongs to (LinkGate.fail). */
  get round(): number {
    return this.gate.round;
  }

  startProbe(): void {
    this.gate.startProbe();
  }

  endProbe(): void {
    this.gate.endProbe();
  }

  /** The console answered something. True when that ended a hold. */
  answered(rows: number): boolean {
    this.lastFailedProbe = undefined;
    if (!this.gate.open()) return false;
    this.log.info("console answers again; the outbox resumes", { rows });
    return true;
  }

  /** A request failed at the link level; `holdMs` is the hold for this round. Ignored while bypassed. */
  failed(f: { round: number; probe: boolean; rowId: number; status: number; now: number; holdMs: number; rows: number; draining: boolean }): void {
    if (this.bypassed(f.draining)) return;
    if (f.probe) this.lastFailedProbe = f.rowId;
    const wasHeld = this.gate.isHeld;
    this.gate.fail(f.round, f.now, f.holdMs);
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
    const probeAt = this.gate.wakeAt(now);
    if (probeAt !== undefined) return probeAt;
    return this.gate.decide(now) === "closed" ? undefined : nextDueAt();
  }
}
