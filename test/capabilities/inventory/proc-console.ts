// An in-memory 2025 inventory surface added to the fake console with fake.route (console-dialects.md §8 #5,
// inferred): single-row GET …/-/sync/, list GET …/sync/, POST (object or array), PATCH and DELETE by id,
// PATCH /api/servers/servers/-/sync/. Keys listed in `missing` answer 404 like the 2024 console.
import type { FakeConsole, RecordedRequest } from "../../console/fake-console.ts";

type Row = Record<string, unknown> & { id: number };

export class ProcConsole {
  readonly single = new Map<string, Row>();
  readonly lists = new Map<string, Row[]>();
  readonly missing = new Set<string>();
  /** Keys whose GET answers this text with 200 (malformed on purpose). */
  readonly garbage = new Map<string, string>();
  private nextId = 1;
  private readonly routes: { clear(): void }[] = [];

  constructor(private readonly fake: FakeConsole) {
    const key = (r: RecordedRequest) => r.path.split("/")[3]!;
    const id = (r: RecordedRequest) => Number(r.path.split("/")[4]);
    this.routes.push(
      fake.route("GET", /^\/api\/proc\/\w+\/-\/sync\/$/, (r) => {
        const k = key(r);
        if (this.garbage.has(k)) return { status: 200, body: this.garbage.get(k) };
        const row = this.single.get(k);
        return !this.missing.has(k) && row ? { status: 200, body: row } : { status: 404, body: { detail: "Not found." } };
      }),
      fake.route("GET", /^\/api\/proc\/\w+\/sync\/$/, (r) => {
        const k = key(r);
        if (this.garbage.has(k)) return { status: 200, body: this.garbage.get(k) };
        return this.missing.has(k) ? { status: 404, body: { detail: "Not found." } } : { status: 200, body: this.lists.get(k) ?? [] };
      }),
      fake.route("POST", /^\/api\/proc\/\w+\/$/, (r) => {
        const k = key(r);
        if (Array.isArray(r.json)) {
          const rows = this.lists.get(k) ?? [];
          for (const item of r.json as Record<string, unknown>[]) rows.push({ ...item, id: this.nextId++ });
          this.lists.set(k, rows);
        } else this.single.set(k, { ...(r.json as Record<string, unknown>), id: this.nextId++ });
        return { status: 201, body: {} };
      }),
      fake.route("PATCH", /^\/api\/proc\/\w+\/\d+\/$/, (r) => {
        const row = this.find(key(r), id(r));
        if (!row) return { status: 404, body: { detail: "Not found." } };
        Object.assign(row, r.json as object, { id: row.id });
        return { status: 200, body: row };
      }),
      fake.route("DELETE", /^\/api\/proc\/\w+\/\d+\/$/, (r) => {
        const rows = this.lists.get(key(r)) ?? [];
        const i = rows.findIndex((x) => x.id === id(r));
        if (i < 0) return { status: 404, body: { detail: "Not found." } };
        rows.splice(i, 1);
        return { status: 204 };
      }),
      fake.route("PATCH", "/api/servers/servers/-/sync/", () => ({ status: 200, body: {} })),
    );
  }

  /** Seeds a single-row key (the console's copy of info/os/time). */
  seed(key: string, row: Record<string, unknown>): void {
    this.single.set(key, { ...row, id: this.nextId++ });
  }

  /** Requests the agent made that change console state. */
  writes(since = 0): RecordedRequest[] {
    return this.fake.requests
      .slice(since)
      .filter((r) => r.method !== "GET" && r.path.startsWith("/api/") && !r.path.startsWith("/api/events/"));
  }

  clear(): void {
    for (const r of this.routes) r.clear();
  }

  private find(key: string, id: number): Row | undefined {
    const single = this.single.get(key);
    if (single?.id === id) return single;
    return this.lists.get(key)?.find((x) => x.id === id);
  }
}
