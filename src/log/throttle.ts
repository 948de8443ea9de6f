// At most one log line per interval for a condition that can repeat on every command or retry (a full disk,
// a database that cannot be written): the first occurrence is told at once, later ones are counted and the
// count goes with the next line that is let through.

export class LogThrottle {
  private lastAt = Number.NEGATIVE_INFINITY;
  private held = 0;

  constructor(
    private readonly intervalMs: number,
    private readonly now: () => number,
  ) {}

  /** Undefined while quiet (the occurrence is counted); else how many occurrences were held back before this one. */
  pass(): number | undefined {
    const now = this.now();
    if (now - this.lastAt < this.intervalMs) {
      this.held++;
      return undefined;
    }
    this.lastAt = now;
    const held = this.held;
    this.held = 0;
    return held;
  }

  /** The condition ended: the next occurrence is told at once. */
  reset(): void {
    this.lastAt = Number.NEGATIVE_INFINITY;
    this.held = 0;
  }
}
