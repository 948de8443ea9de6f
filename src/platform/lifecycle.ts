// How the agent ends: a signal, a console `quit`, or a `restart` (re-exec). Whoever asks first decides;
// later requests are ignored, so a second `quit` or a signal during shutdown can never crash anything.

/** Something the agent starts and later stops; stop must be safe to call even if start failed half-way. */
export interface Part {
  name: string;
  start(): Promise<void> | void;
  stop(): Promise<void> | void;
}

export type StopReason = { kind: "signal"; signal: string } | { kind: "quit" } | { kind: "restart" };

export class Lifecycle {
  private resolveStop!: (reason: StopReason) => void;
  private reason: StopReason | undefined;
  private readonly controller = new AbortController();
  /** Resolves once, with the first stop request. */
  readonly stopped: Promise<StopReason>;

  constructor() {
    this.stopped = new Promise((resolve) => (this.resolveStop = resolve));
  }

  /** Aborted when a stop was requested; pass it to anything that waits or retries. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get stopReason(): StopReason | undefined {
    return this.reason;
  }

  requestStop(reason: StopReason): void {
    if (this.reason) return;
    this.reason = reason;
    this.controller.abort(new Error(`stopping: ${reason.kind}`));
    this.resolveStop(reason);
  }

  /** Routes SIGINT and SIGTERM to requestStop; returns a function that removes the handlers. */
  trapSignals(): () => void {
    const handlers = (["SIGINT", "SIGTERM"] as const).map((signal) => {
      const handler = () => this.requestStop({ kind: "signal", signal });
      process.on(signal, handler);
      return () => process.off(signal, handler);
    });
    return () => {
      for (const off of handlers) off();
    };
  }
}
