// The inventory part of the agent: the full commit when the server is not commissioned, a sync shortly
// after start when it is, a periodic sync (cheap: unchanged keys are skipped by hash), and the `commit` and
// `sync` commands. One commit or sync at a time. Every write goes through the outbox; only GETs are direct.
import type { HttpMethod, HttpResult } from "../../console/http.ts";
import { PRIORITY_INVENTORY, type OutboxItem } from "../../console/outbox/item.ts";
import type { SettledItem } from "../../console/outbox/outbox.ts";
import type { StateDb } from "../../db/open.ts";
import { runProcess as defaultRunProcess } from "../../exec/run.ts";
import type { Logger } from "../../log/logger.ts";
import type { Clock } from "../../platform/clock.ts";
import { collectSnapshot } from "./collect.ts";
import type { CollectorEnv } from "./collectors/env.ts";
import { commitBody, commitItem, committedEvent } from "./commit.ts";
import { FIREWALL_SYNC_PATH, KEY_DEFS, SYNC_KEYS, type SyncKey } from "./keys.ts";
import { GET_TIMEOUT_MS, syncKey, syncServer, type KeySyncDeps } from "./sync.ts";
import { SyncState } from "./sync-state.ts";
import type { ServerData, SnapshotKey } from "./types.ts";

export const STARTUP_SYNC_DELAY_MS = 5_000;
export const PERIODIC_SYNC_MS = 60 * 60_000;
export const FULL_RESYNC_MS = 24 * 60 * 60_000;
/** A key skipped because its earlier writes were still in the outbox is synced again after this long. */
export const FOLLOW_UP_MS = 5_000;
/** Rows whose fate is tracked to forget a key's hash when the console refuses a write (bounded). */
const MAX_TRACKED_ROWS = 10_000;

export interface InventoryOptions {
  /** ConsoleHttp satisfies it; used for GETs of the console's state only. */
  http: { request(method: HttpMethod, path: string, options: { timeoutMs?: number; signal?: AbortSignal }): Promise<HttpResult> };
  /** Outbox satisfies it. */
  outbox: { enqueue(item: OutboxItem): number };
  state: StateDb;
  log: Logger;
  clock: Clock;
  version: string;
  /** Overrides for the collectors (fixture roots in tests). */
  env?: Partial<CollectorEnv>;
  startupDelayMs?: number;
  periodicSyncMs?: number;
  fullResyncMs?: number;
  followUpMs?: number;
  /** The firewall module's chains; when given, posted after a commit and on a sync of `firewall`. */
  firewallChains?: () => Promise<unknown[]>;
}

export type SyncSummary = {
  synced: string[];
  unchanged: string[];
  skipped: string[];
  writes: number;
};

export class Inventory {
  private readonly syncState: SyncState;
  private readonly env: CollectorEnv;
  private readonly log: Logger;
  private readonly notFound = new Map<string, number>();
  private readonly rowKeys = new Map<number, string[]>();
  private queue: Promise<unknown> = Promise.resolve();
  private abort = new AbortController();
  private loop: Promise<void> | undefined;
  private accountsSyncQueued = false;
  private followUp: Set<SyncKey> | undefined;

  constructor(private readonly options: InventoryOptions) {
    this.syncState = new SyncState(options.state.sqlite);
    this.log = options.log;
    this.env = {
      procRoot: "/proc",
      sysRoot: "/sys",
      root: "/",
      runProcess: defaultRunProcess,
      now: () => options.clock.now(),
      version: options.version,
      ...options.env,
    };
  }

  /** Commit when not commissioned, else sync after a short delay; then sync periodically. */
  start(commissioned: boolean): void {
    if (this.loop) return;
    this.abort = new AbortController();
    const signal = this.abort.signal;
    const { clock } = this.options;
    this.loop = (async () => {
      try {
        if (!commissioned) await this.guard(() => this.commit());
        else {
          await clock.sleep(this.options.startupDelayMs ?? STARTUP_SYNC_DELAY_MS, signal);
          await this.guard(() => this.sync());
        }
        for (;;) {
          await clock.sleep(this.options.periodicSyncMs ?? PERIODIC_SYNC_MS, signal);
          await this.guard(() => this.serialised(() => this.syncNow([...SYNC_KEYS])));
        }
      } catch {
        // only the sleeps throw, when stop() aborts them
      }
    })();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
    this.loop = undefined;
    await this.queue.catch(() => {});
  }

  /** Collects everything and enqueues the commit and the `committed` event (and the firewall sync). */
  commit(): Promise<{ keys: number }> {
    return this.serialised(async () => {
      this.notFound.clear(); // the commit may have created the rows a sync could not find
      const snapshot = await collectSnapshot(this.env, this.log);
      const body = commitBody(snapshot, this.options.version);
      const id = this.options.outbox.enqueue(commitItem(body));
      this.track(id, ["server", ...Object.keys(KEY_DEFS)]);
      this.options.outbox.enqueue(committedEvent(this.options.version, id));
      await this.syncFirewall();
      this.log.info("committed system information", { keys: Object.keys(body).length, packages: snapshot.packages?.length ?? 0 });
      return { keys: Object.keys(body).length };
    });
  }

  /**
   * Syncs the given keys (all when empty); unknown names are ignored with a warning. Asked for explicitly,
   * so keys the console answered 404 for are asked again (the periodic sync leaves them until the full re-sync).
   */
  sync(keys: readonly string[] = []): Promise<SyncSummary> {
    const wanted = keys.length === 0 ? [...SYNC_KEYS] : SYNC_KEYS.filter((k) => keys.includes(k));
    const unknown = keys.filter((k) => !(SYNC_KEYS as readonly string[]).includes(k));
    if (unknown.length > 0) this.log.warn("sync: ignored unknown keys", { keys: unknown });
    return this.serialised(() => {
      for (const k of wanted) this.notFound.delete(k);
      return this.syncNow(wanted);
    });
  }

  /** The hook for the user and group commands: one users+groups sync, coalesced while one is waiting. */
  requestUsersAndGroupsSync(): void {
    if (this.accountsSyncQueued) return;
    this.accountsSyncQueued = true;
    this.serialised(() => {
      this.accountsSyncQueued = false;
      return this.syncNow(["groups", "users"]);
    }).catch((err) => this.log.warn("users and groups sync failed", { error: err }));
  }

  /** Wire to the outbox's onSettled: a refused write makes its key compare with the console next time. */
  onOutboxSettled(item: SettledItem): void {
    const keys = this.rowKeys.get(item.id);
    if (!keys) return;
    this.rowKeys.delete(item.id);
    if (item.outcome === "dropped") this.syncState.forget(keys);
  }

  private async syncNow(keys: readonly SyncKey[]): Promise<SyncSummary> {
    const summary: SyncSummary = { synced: [], unchanged: [], skipped: [], writes: 0 };
    const deferred: SyncKey[] = [];
    const snapshotKeys = keys.filter((k): k is SnapshotKey => k !== "firewall");
    const snapshot = await collectSnapshot(this.env, this.log, snapshotKeys);
    const deps: KeySyncDeps = {
      get: (path) => this.options.http.request("GET", path, { timeoutMs: GET_TIMEOUT_MS, signal: this.abort.signal }),
      write: (key, w) => {
        const id = this.options.outbox.enqueue({
          method: w.method,
          path: w.path,
          priority: PRIORITY_INVENTORY,
          ...(w.body === undefined ? {} : { body: w.body }),
        });
        this.track(id, [key]);
        return id;
      },
      state: this.syncState,
      log: this.log,
      now: () => this.options.clock.now(),
      fullResyncMs: this.options.fullResyncMs ?? FULL_RESYNC_MS,
      notFound: this.notFound,
    };
    for (const key of keys) {
      if (this.abort.signal.aborted) break;
      if (key === "firewall") {
        summary.writes += await this.syncFirewall();
        continue;
      }
      const data = snapshot[key];
      if (data === undefined) {
        summary.skipped.push(key);
        continue;
      }
      if (this.hasUndelivered(key)) {
        // Diffing now would compare with rows the console has not received yet (and POST them twice).
        summary.skipped.push(key);
        deferred.push(key);
        continue;
      }
      const result = key === "server" ? syncServer(data as ServerData, deps) : await syncKey(KEY_DEFS[key], data, deps);
      summary[result.outcome === "unchanged" ? "unchanged" : result.outcome].push(key);
      summary.writes += result.writes;
    }
    if (deferred.length > 0) this.scheduleFollowUp(deferred);
    this.log.debug("inventory sync done", summary);
    return summary;
  }

  /** One failed round (e.g. the database) is logged; the next one still runs. */
  private async guard(work: () => Promise<unknown>): Promise<void> {
    try {
      await work();
    } catch (err) {
      this.log.error("inventory commit or sync failed", { error: err });
    }
  }

  /** True while an earlier write for `key` waits in the outbox; forgets rows that are gone. */
  private hasUndelivered(key: string): boolean {
    const ids = [...this.rowKeys].filter(([, keys]) => keys.includes(key)).map(([id]) => id);
    if (ids.length === 0) return false;
    const live = new Set(this.syncState.undelivered(ids));
    for (const id of ids) if (!live.has(id)) this.rowKeys.delete(id);
    return live.size > 0;
  }

  private scheduleFollowUp(keys: readonly SyncKey[]): void {
    if (this.followUp) {
      for (const k of keys) this.followUp.add(k);
      return;
    }
    const pending = new Set(keys);
    this.followUp = pending;
    const signal = this.abort.signal;
    this.options.clock.sleep(this.options.followUpMs ?? FOLLOW_UP_MS, signal).then(
      () => {
        this.followUp = undefined;
        return this.guard(() => this.serialised(() => this.syncNow(SYNC_KEYS.filter((k) => pending.has(k)))));
      },
      () => {
        this.followUp = undefined;
      },
    );
  }

  private async syncFirewall(): Promise<number> {
    if (!this.options.firewallChains) return 0;
    try {
      const chains = await this.options.firewallChains();
      if (chains.length === 0) return 0;
      this.options.outbox.enqueue({ method: "POST", path: FIREWALL_SYNC_PATH, priority: PRIORITY_INVENTORY, body: { chains } });
      return 1;
    } catch (err) {
      this.log.warn("could not collect firewall rules; firewall sync skipped", { error: err });
      return 0;
    }
  }

  private track(id: number, keys: string[]): void {
    if (id <= 0) return;
    if (this.rowKeys.size >= MAX_TRACKED_ROWS) this.rowKeys.delete(this.rowKeys.keys().next().value!);
    this.rowKeys.set(id, keys);
  }

  private serialised<T>(work: () => Promise<T>): Promise<T> {
    const run = this.queue.then(work, work);
    this.queue = run.catch(() => {});
    return run;
  }
}
