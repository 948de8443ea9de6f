// The tunnel stream limit shared by every smux session of the agent (spec/upstream-2026.md §8.4: 256 streams
// across all tunnels), and the once-per-excursion warning at 75 % of a limit. Holds no module state: the
// composition root makes one and hands it to each session.
import type { Logger } from "../../log/logger.ts";

/** Stream slots shared by every session of the agent (the global limit, 256). */
export interface StreamSlots {
  tryAcquire(): boolean;
  release(): void;
  /** Calls `listener` after every release; returns the unsubscribe function. */
  onRelease(listener: () => void): () => void;
}

export function createStreamSlots(log: Logger, limit = 256): StreamSlots {
  let used = 0;
  const listeners = new Set<() => void>();
  const warn = usageWarning(limit, (n) => log.warn("tunnel streams at 75% of the global limit", { streams: n, limit }));
  return {
    tryAcquire() {
      if (used >= limit) return false;
      used++;
      warn(used);
      return true;
    },
    release() {
      if (used > 0) used--;
      warn(used);
      for (const listener of [...listeners]) listener();
    },
    onRelease(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

/** Warns when usage reaches 75 % of `limit`, then not again until it has dropped below. */
export function usageWarning(limit: number, warn: (used: number) => void): (used: number) => void {
  const threshold = Math.ceil(limit * 0.75);
  let armed = true;
  return (used) => {
    if (used < threshold) armed = true;
    else if (armed) {
      armed = false;
      warn(used);
    }
  };
}
