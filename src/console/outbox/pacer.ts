// A full garbage collection after every `everyBytes` of request bodies through the outbox. Each row costs a
// few short-lived strings and, when sent, a fetch with its Request, Response, headers and timeout signal,
// whose native memory JavaScriptCore does not weigh when it decides to collect. At thousands of rows a second
// (a command streaming its output) that garbage piled up to tens of MiB of RSS before a collection ran;
// collecting on this schedule bounds it for a few milliseconds per collection (BENCHMARKS.md, streamed output).
// Quiet traffic (metrics, logs) rarely reaches the mark.
export const DEFAULT_COLLECT_EVERY_BYTES = 1024 * 1024;

export class GarbagePacer {
  private bytes = 0;

  constructor(
    private readonly everyBytes: number,
    private readonly collect: () => void = () => Bun.gc(true),
  ) {}

  /** Counts bytes that passed through; collects when the mark is reached. 0 or less turns it off. */
  add(bytes: number): void {
    if (this.everyBytes <= 0) return;
    this.bytes += bytes;
    if (this.bytes < this.everyBytes) return;
    this.bytes = 0;
    this.collect();
  }
}
