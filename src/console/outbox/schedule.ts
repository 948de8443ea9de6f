// The outbox's in-memory view of which row to send next: ready rows by (priority, id), rows in backoff by
// due time, rows waiting for their `after` row, rows in flight. It mirrors the table (the table is the
// truth); it never touches the database and never reads the clock (callers pass monotonic ms).

/** Where a row is in its life: "blocked" waits for its `after` row to be delivered or dropped. */
export type EntryState = "ready" | "delayed" | "inflight" | "blocked" | "removed";

export interface ScheduleEntry {
  readonly id: number;
  readonly priority: number;
  readonly afterId: number | null;
  readonly bytes: number;
  state: EntryState;
  /** Monotonic ms at which a delayed row becomes ready. */
  dueAt: number;
}

interface Timed {
  at: number;
  entry: ScheduleEntry;
}

/** A binary min-heap; `before(a, b)` is true when a must come out first. */
class MinHeap<T> {
  private items: T[] = [];

  constructor(private readonly before: (a: T, b: T) => boolean) {}

  get size(): number {
    return this.items.length;
  }

  peek(): T | undefined {
    return this.items[0];
  }

  push(item: T): void {
    const items = this.items;
    items.push(item);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(items[i]!, items[parent]!)) break;
      [items[i], items[parent]] = [items[parent]!, items[i]!];
      i = parent;
    }
  }

  pop(): T | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (items.length === 0 || last === undefined) return top;
    items[0] = last;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      const right = left + 1;
      let best = i;
      if (left < items.length && this.before(items[left]!, items[best]!)) best = left;
      if (right < items.length && this.before(items[right]!, items[best]!)) best = right;
      if (best === i) break;
      [items[i], items[best]] = [items[best]!, items[i]!];
      i = best;
    }
    return top;
  }

  /** Empties the heap and returns what it held, in no particular order. */
  takeAll(): T[] {
    const all = this.items;
    this.items = [];
    return all;
  }
}

/**
 * Heap entries are never searched for: a row that leaves a state is left behind in that heap and skipped
 * when it surfaces (its state or due time no longer matches), so every operation stays O(log n).
 */
export class Schedule {
  private readonly entries = new Map<number, ScheduleEntry>();
  private readonly ready = new MinHeap<ScheduleEntry>((a, b) => a.priority < b.priority || (a.priority === b.priority && a.id < b.id));
  private readonly delayed = new MinHeap<Timed>((a, b) => a.at < b.at || (a.at === b.at && a.entry.id < b.entry.id));
  /** after_id -> rows that found it still present when their turn came. */
  private readonly waiting = new Map<number, ScheduleEntry[]>();
  private inflightCount = 0;
  private totalBytes = 0;

  get rows(): number {
    return this.entries.size;
  }

  get bytes(): number {
    return this.totalBytes;
  }

  get inflight(): number {
    return this.inflightCount;
  }

  has(id: number): boolean {
    return this.entries.has(id);
  }

  isInflight(id: number): boolean {
    return this.entries.get(id)?.state === "inflight";
  }

  add(row: { id: number; priority: number; afterId: number | null; bytes: number }, dueAt: number, now: number): void {
    if (this.entries.has(row.id)) return;
    const entry: ScheduleEntry = { ...row, state: "delayed", dueAt };
    this.entries.set(row.id, entry);
    this.totalBytes += row.bytes;
    if (dueAt <= now) this.makeReady(entry);
    else this.delay(entry, dueAt);
  }

  /**
   * The row to send next (lowest priority number, then lowest id), now marked in flight. Row `avoid` is
   * taken only when no other row is ready (a probe does not repeat the row the last probe failed with).
   */
  claim(now: number, avoid?: number): ScheduleEntry | undefined {
    this.promoteDue(now);
    let avoided: ScheduleEntry | undefined;
    for (;;) {
      const entry = this.ready.pop();
      if (!entry) break;
      if (!this.current(entry, "ready")) continue;
      if (entry.afterId !== null && this.entries.has(entry.afterId)) {
        entry.state = "blocked";
        const list = this.waiting.get(entry.afterId);
        if (list) list.push(entry);
        else this.waiting.set(entry.afterId, [entry]);
        continue;
      }
      if (entry.id === avoid) {
        avoided = entry;
        continue;
      }
      if (avoided) this.ready.push(avoided);
      return this.takeOff(entry);
    }
    return avoided && this.takeOff(avoided);
  }

  /** Monotonic ms at which the earliest row in backoff becomes ready; undefined when none is waiting. */
  nextDueAt(): number | undefined {
    for (;;) {
      const top = this.delayed.peek();
      if (!top) return undefined;
      if (this.current(top.entry, "delayed") && top.entry.dueAt === top.at) return top.at;
      this.delayed.pop();
    }
  }

  /** An in-flight row failed with a retryable outcome: it waits until `dueAt`. */
  retry(id: number, dueAt: number): void {
    const entry = this.entries.get(id);
    if (entry?.state !== "inflight") return;
    this.inflightCount--;
    this.delay(entry, dueAt);
  }

  /** An in-flight row was interrupted (stop): it is ready again, with no attempt counted. */
  release(id: number): void {
    const entry = this.entries.get(id);
    if (entry?.state !== "inflight") return;
    this.inflightCount--;
    this.makeReady(entry);
  }

  /** The row is gone from the table (delivered or dropped): forget it and free the rows waiting for it. */
  remove(id: number): void {
    const entry = this.entries.get(id);
    if (!entry) return;
    if (entry.state === "inflight") this.inflightCount--;
    entry.state = "removed";
    this.entries.delete(id);
    this.totalBytes -= entry.bytes;
    const dependents = this.waiting.get(id);
    this.waiting.delete(id);
    for (const d of dependents ?? []) if (this.current(d, "blocked")) this.makeReady(d);
  }

  /** Every row in backoff becomes ready now (drain ignores backoff waits). */
  promoteAll(): void {
    for (const item of this.delayed.takeAll()) {
      if (this.current(item.entry, "delayed") && item.entry.dueAt === item.at) this.makeReady(item.entry);
    }
  }

  private promoteDue(now: number): void {
    for (;;) {
      const top = this.delayed.peek();
      if (!top || top.at > now) return;
      this.delayed.pop();
      if (this.current(top.entry, "delayed") && top.entry.dueAt === top.at) this.makeReady(top.entry);
    }
  }

  private takeOff(entry: ScheduleEntry): ScheduleEntry {
    entry.state = "inflight";
    this.inflightCount++;
    return entry;
  }

  private current(entry: ScheduleEntry, state: EntryState): boolean {
    return entry.state === state && this.entries.get(entry.id) === entry;
  }

  private makeReady(entry: ScheduleEntry): void {
    entry.state = "ready";
    this.ready.push(entry);
  }

  private delay(entry: ScheduleEntry, dueAt: number): void {
    entry.state = "delayed";
    entry.dueAt = dueAt;
    this.delayed.push({ at: dueAt, entry });
  }
}
