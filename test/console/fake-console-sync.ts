// The 2026 console's hash-checked inventory surface (upstream-2026.md §5.2; the console side is inferred from the
// agent's): POST …/-/sync-check/ answers which categories' hashes differ from the ones it stored, then stores
// the new ones (#253: "store sync hashes at commit and sync-check"); per-category GET …/sync/ (a category never
// written is a 404: "nothing stored yet"); POST (object or array), PATCH and DELETE by id, each requiring
// X-Sync-Hash, whose value it stores; the server PATCH; the access policy; and the commit's sync_hashes and rows.
// Only the 2026 dialect has these routes (fake-console-routes.ts); 2024 and 2025 answer 404 as before.
import type { ConsoleState, RecordedRequest, Reply } from "./fake-console-routes.ts";

type Row = Record<string, unknown> & { id: number };

export const SINGLE = ["info", "os", "time"] as const;
export const LISTS = ["groups", "users", "interfaces", "addresses", "disks", "partitions"] as const;
const CATEGORIES: readonly string[] = [...SINGLE, ...LISTS];

export class SyncStore {
  readonly single = new Map<string, Row>();
  readonly lists = new Map<string, Row[]>();
  /** The hash stored per category. */
  readonly hashes = new Map<string, string>();
  /** The bodies of the server PATCHes. */
  readonly serverPatches: unknown[] = [];
  accessPolicy: { block_local_sudo: boolean; detect_local_access: boolean } = { block_local_sudo: false, detect_local_access: false };
  private nextId = 1;

  /** The console's rows of one list category (undefined: never written, the GET is a 404). */
  list(key: string): Row[] | undefined {
    return this.lists.get(key);
  }

  /** What the commit stored: every category row it carried, and its sync_hashes. */
  commit(body: Record<string, unknown>): void {
    for (const key of SINGLE) if (isObject(body[key])) this.single.set(key, { ...(body[key] as object), id: this.nextId++ });
    for (const key of LISTS) {
      if (Array.isArray(body[key]))
        this.lists.set(
          key,
          (body[key] as object[]).map((r) => ({ ...r, id: this.nextId++ })),
        );
    }
    if (isObject(body.sync_hashes)) for (const [k, v] of Object.entries(body.sync_hashes)) if (typeof v === "string") this.hashes.set(k, v);
  }

  syncCheck(req: RecordedRequest): Reply {
    const hashes = isObject(req.json) && isObject(req.json.hashes) ? req.json.hashes : undefined;
    if (!hashes) return { status: 400, body: { hashes: ["This field is required."] } };
    const required = Object.entries(hashes)
      .filter(([k, v]) => CATEGORIES.includes(k) && this.hashes.get(k) !== v)
      .map(([k]) => k);
    for (const [k, v] of Object.entries(hashes)) if (CATEGORIES.includes(k) && typeof v === "string") this.hashes.set(k, v);
    return { status: 200, body: { sync_required: required } };
  }

  get(key: string, single: boolean): Reply {
    if (single) {
      const row = this.single.get(key);
      return row ? { status: 200, body: row } : { status: 404, body: { detail: "Not found." } };
    }
    const rows = this.lists.get(key);
    return rows ? { status: 200, body: rows } : { status: 404, body: { detail: "Not found." } };
  }

  write(req: RecordedRequest, key: string, id: number | undefined): Reply {
    const hash = req.headers["x-sync-hash"];
    if (!hash?.startsWith("sha256:")) return { status: 400, body: { detail: "X-Sync-Hash is required." } };
    this.hashes.set(key, hash);
    if (req.method === "POST") {
      if (Array.isArray(req.json)) {
        const rows = this.lists.get(key) ?? [];
        for (const item of req.json as object[]) rows.push({ ...item, id: this.nextId++ });
        this.lists.set(key, rows);
      } else if (isObject(req.json)) this.single.set(key, { ...req.json, id: this.nextId++ });
      else return { status: 400, body: { non_field_errors: ["Invalid data."] } };
      return { status: 201, body: {} };
    }
    const single = this.single.get(key);
    const rows = this.lists.get(key) ?? [];
    const row = single?.id === id ? single : rows.find((r) => r.id === id);
    if (!row) return { status: 404, body: { detail: "Not found." } };
    if (req.method === "DELETE") {
      rows.splice(rows.indexOf(row), 1);
      return { status: 204 };
    }
    Object.assign(row, req.json as object, { id: row.id });
    return { status: 200, body: row };
  }
}

const stores = new WeakMap<ConsoleState, SyncStore>();

/** The console's inventory store (created on first use). */
export function syncStoreOf(state: ConsoleState): SyncStore {
  let store = stores.get(state);
  if (!store) {
    store = new SyncStore();
    stores.set(state, store);
  }
  return store;
}

/** The 2026 routes, in fake-console-routes.ts's Route shape (without the dialect list). */
export const SYNC_ROUTES: {
  method: string;
  path: RegExp;
  handle: (req: RecordedRequest, state: ConsoleState, params: string[]) => Reply;
}[] = [
  { method: "POST", path: /^\/api\/servers\/servers\/-\/sync-check\/$/, handle: (r, s) => syncStoreOf(s).syncCheck(r) },
  {
    method: "PATCH",
    path: /^\/api\/servers\/servers\/-\/sync\/$/,
    handle: (r, s) => {
      syncStoreOf(s).serverPatches.push(r.json);
      return { status: 200, body: {} };
    },
  },
  {
    method: "GET",
    path: /^\/api\/servers\/servers\/-\/access-policy\/$/,
    handle: (_r, s) => ({ status: 200, body: syncStoreOf(s).accessPolicy }),
  },
  { method: "GET", path: /^\/api\/proc\/(info|os|time)\/-\/sync\/$/, handle: (_r, s, p) => syncStoreOf(s).get(p[0]!, true) },
  {
    method: "GET",
    path: /^\/api\/proc\/(groups|users|interfaces|addresses|disks|partitions)\/sync\/$/,
    handle: (_r, s, p) => syncStoreOf(s).get(p[0]!, false),
  },
  {
    method: "POST",
    path: /^\/api\/proc\/(info|os|time|groups|users|interfaces|addresses|disks|partitions)\/$/,
    handle: (r, s, p) => syncStoreOf(s).write(r, p[0]!, undefined),
  },
  {
    method: "PATCH",
    path: /^\/api\/proc\/(info|os|time|groups|users|interfaces|addresses|disks|partitions)\/(\d+)\/$/,
    handle: (r, s, p) => syncStoreOf(s).write(r, p[0]!, Number(p[1])),
  },
  {
    method: "DELETE",
    path: /^\/api\/proc\/(groups|users|interfaces|addresses|disks|partitions)\/(\d+)\/$/,
    handle: (r, s, p) => syncStoreOf(s).write(r, p[0]!, Number(p[1])),
  },
];

function isObject(value: unknown): value is Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value);
}
