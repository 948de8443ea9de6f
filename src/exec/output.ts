// Collects a process's output as it is read: at most `maxBytes` raw bytes and, when given, at most
// `maxEncodedBytes` once decoded and JSON-escaped (json-size.ts), which is what a fin can carry. Kept bytes are
// decoded as they arrive, so no raw copy and no concatenation of them is held; the rest is counted, not kept.
import { JsonTextBudget } from "./json-size.ts";

export class OutputCollector {
  private readonly budget: JsonTextBudget | undefined;
  private readonly decoder = new TextDecoder("utf-8", { fatal: false });
  private readonly parts: string[] = [];
  private keptBytes = 0;
  private omittedBytes = 0;

  constructor(
    private readonly maxBytes: number,
    maxEncodedBytes?: number,
  ) {
    // Without an escaped-size limit no byte needs looking at.
    this.budget =
      maxEncodedBytes === undefined || maxEncodedBytes === Number.POSITIVE_INFINITY ? undefined : new JsonTextBudget(maxEncodedBytes);
  }

  add(chunk: Uint8Array): void {
    const room = Math.max(0, this.maxBytes - this.keptBytes);
    const fits = chunk.length <= room ? chunk : chunk.subarray(0, room);
    const keep = this.budget ? this.budget.take(fits) : fits.length;
    if (keep > 0) {
      this.parts.push(this.decoder.decode(chunk.subarray(0, keep), { stream: true }));
      this.keptBytes += keep;
    }
    this.omittedBytes += chunk.length - keep;
  }

  /** The kept output as text (a sequence cut short ends as U+FFFD, as counted) and the bytes not kept. */
  finish(): { output: string; omittedBytes: number } {
    this.parts.push(this.decoder.decode());
    const output = this.parts.length === 1 ? this.parts[0]! : this.parts.join("");
    this.parts.length = 0;
    return { output, omittedBytes: this.omittedBytes };
  }
}
