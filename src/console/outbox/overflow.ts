// Overflow reporting for the outbox: when its caps force it to drop rows, one warning per episode, with the
// count: when the episode ends (below 90 % of both caps again), at stop, or every OVERFLOW_REPORT_MS while it
// lasts. Never a line per dropped row. Acks and fins are never dropped: past the caps with only those, one
// warning until the episode ends.
import type { Logger } from "../../log/logger.ts";

/** A long overflow episode is reported at this interval instead of only when it ends. */
export const OVERFLOW_REPORT_MS = 10 * 60_000;

export class OverflowEpisodes {
  private episode: { dropped: number; since: number } | undefined;
  private overCaps = false;

  constructor(
    private readonly log: Logger,
    private readonly caps: { maxRows: number; maxBytes: number },
  ) {}

  /** `count` rows were dropped for the caps at monotonic `now`. */
  dropped(count: number, now: number): void {
    this.episode ??= { dropped: 0, since: now };
    this.episode.dropped += count;
    if (now - this.episode.since >= OVERFLOW_REPORT_MS) this.report();
  }

  /** Over the caps with nothing left that may be dropped (acks and fins, rows in flight): kept, told once. */
  keptOverCaps(rows: number, bytes: number): void {
    if (this.overCaps) return;
    this.overCaps = true;
    this.log.warn("outbox over its size caps with only acks, fins and requests in flight left; keeping them", {
      rows,
      bytes,
      max_rows: this.caps.maxRows,
      max_bytes: this.caps.maxBytes,
    });
  }

  /** A row left the outbox; the episode ends once it is below 90 % of both caps. */
  shrank(rows: number, bytes: number): void {
    if (rows > 0.9 * this.caps.maxRows || bytes > 0.9 * this.caps.maxBytes) return;
    this.overCaps = false;
    if (this.episode) this.report();
  }

  report(): void {
    const episode = this.episode;
    if (!episode) return;
    this.episode = undefined;
    this.log.warn("outbox over its size caps; dropped the lowest-priority oldest requests", {
      dropped: episode.dropped,
      max_rows: this.caps.maxRows,
      max_bytes: this.caps.maxBytes,
    });
  }
}
