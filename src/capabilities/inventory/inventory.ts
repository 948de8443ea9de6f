// The inventory part of the agent (upstream-2026.md §5.3, metrics.md §10): at start, the sync-check tells a 2026
// console (200: a lightweight commit, then users/groups after 0-5 s and the rest after 30-60 s) from an older one
// (404, remembered per console for a day: the full commit with packages, as those consoles expect); when
// commissioned, a full sync 5 s after start; then a periodic sync, one sync-check when nothing changed (2026)
// or nothing at all (older consoles: unchanged keys are skipped by our own hash). The `commit` and `sync`
// commands, and a users/groups sync after the user commands. One commit or sync at a time. Every write goes
// through the outbox; only the sync-check, the GETs and the access policy are direct.
import type { HttpMethod, HttpResult } from "../../console/http.ts";
import { PRIORITY_INVENTORY, type OutboxItem } from "../../console/outbox/item.ts";
import type { DialectState } from "../../console/outbox/dialects.ts";
import type { SettledItem } from "../../console/outbox/outbox.ts";
import { ConsoleMemory } from "../../db/console-memory.ts";
import type { StateDb } from "../../db/open.ts";
import type { Logger } from "../../log/logger.ts";
import type { Clock } from "../../platform/clock.ts";
import { type CollectorEnv, hostCollectorEnv } from "./collectors/env.ts";
import { buildCommit, commitBody, type CommitForm, type CommitText, commitItem, committedEvent, encodeCommit } from "./commit.ts";
import { type HostFacts, readHostFacts } from "./collectors/pam.ts";
import type { Write } from "./diff.ts";
import { HASHED_KEYS, isHashedKey, snapshotHashes, type HashedKey } from "./hashes.ts";
import { readSyncCheck, SYNC_HASH_HEADER, syncCategory, type SyncCheckAnswer } from "./hash-sync.ts";
import { ACCESS_POLICY_PATH, FIREWALL_SYNC_PATH, KEY_DEFS, SYNC_CHECK_PATH, SYNC_KEYS, type SyncKey } from "./keys.ts";
import { GET_TIMEOUT_MS, syncKey, syncServer, type EndpointMemory, type KeySyncDeps } from "./sync.ts";
import { SyncState } from "./sync-state.ts";
import { SNAPSHOT_KEYS, type Snapshot, type SnapshotKey } from "./types.ts";

export const STARTUP_SYNC_DELAY_MS = 5_000;
export const PERIODIC_SYNC_MS = 60 * 60_000;
export const FULL_RESYNC_MS = 24 * 60 * 60_000;
/** A key skipped because its earlier writes were still in the outbox is synced again after this long. */
export const FOLLOW_UP_MS = 5_000;
/** Rows whose fate is tracked to forget a key's hash when the console refuses a write (bounded). */
const MAX_TRACKED_ROWS = 10_000;
/** How long the pam facts (sshd_use_pam, pam_version) are reused (upstream-2026.md §9.4). */
const HOST_FACTS_MS = 3 * 60 * 60_000;
/** The outbox dialect of the `server` PATCH: a console that answers 404 gets no more of them for a day. */
export const SERVER_SYNC_DIALECT = "server-sync";
/** The staged syncs after a lightweight commit (§5.3). */
export const ACCOUNTS_STAGE = ["groups", "users"] as const satisfies readonly SyncKey[];
export const REST_STAGE = ["time", "interfaces", "addresses", "disks", "partitions"] as const satisfies readonly SyncKey[];
const SYNC_CHECK = "sync-check";
const ACCESS_POLICY = "access-policy";

export interface InventoryOptions {
  /** ConsoleHttp satisfies it; used for GETs of the console's state only. */
  http: {
    request(method: HttpMethod, path: string, options: { body?: unknown; timeoutMs?: number; signal?: AbortSignal }): Promise<HttpResult>;
    /** The console: what it lacks is remembered for this URL. */
    readonly serverUrl?: string;
  };
  /** Outbox satisfies it. */
  outbox: { enqueue(item: OutboxItem): number; dialect?(name: string): DialectState };
  state: StateDb;
  log: Logger;
  clock: Clock;
  version: string;
  /** Overrides for the collectors (fixture roots in tests). */
  env?: Partial<CollectorEnv>;
  /**
   * Runs the collectors for the given keys (a failed one is left out). The agent's runs them in its helper
   * process (collect-process.ts), stopped when the inventory stops; without it they run in this process, over
   * `env` (tests).
   */
  collect?: (keys: readonly SnapshotKey[], signal: AbortSignal) => Promise<Partial<Snapshot>>;
  /**
   * Builds the full commit as text: the agent's builds it in its helper process (collect-process.ts), so the
   * snapshot's objects never enter the agent; without it, it is built here from `collect` (tests). A failure is
   * a commit of what this process knows (version, host facts), as when every collector fails.
   */
  commitText?: (form: CommitForm, version: string, signal: AbortSignal) => Promise<CommitText>;
  startupDelayMs?: number;
  periodicSyncMs?: number;
  fullResyncMs?: number;
  followUpMs?: number;
  /** The agent's firewall chains (the helper reads them); when given, posted after a commit and on a sync of `firewall` (older consoles). */
  firewallChains?: (signal: AbortSignal) => Promise<unknown[]>;
  /** For the staged delays after a lightweight commit; default Math.random. */
  random?: () => number;
}

/** What the sync-check said of the console, in this process. */
type ConsoleKind = "2026" | "older";

export interface AccessPolicy {
  block_local_sudo: boolean;
  detect_local_access: boolean;
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
  private readonly endpoints: EndpointMemory;
  private readonly rowKeys = new Map<number, string[]>();
  private queue: Promise<unknown> = Promise.resolve();
  private abort = new AbortController();
  private loop: Promise<void> | undefined;
  private accountsSyncQueued = false;
  private followUp: Set<SyncKey> | undefined;
  private kind: ConsoleKind | undefined;
  /** 2026 categories whose last sync did not complete (a failed GET, a refused write): synced whatever the console says. */
  private readonly dirty = new Set<HashedKey>();
  private hostFacts: { at: number; facts: HostFacts } | undefined;
  private policy: AccessPolicy = { block_local_sudo: false, detect_local_access: false };

  constructor(private readonly options: InventoryOptions) {
    this.syncState = new SyncState(options.state.sqlite);
    this.log = options.log;
    this.env = {
      ...hostCollectorEnv(options.version, () => options.clock.now()),
      ...options.env,
    };
    const now = () => options.clock.now();
    const memory = new ConsoleMemory(options.state.sqlite, options.http.serverUrl ?? "", now());
    this.endpoints = {
      lacks: (name) => memory.lacks(name, now()),
      remember: (name) => memory.remember(name, now()),
      forget: (name) => memory.forget(name),
    };
    const known = memory.names();
    if (known.length > 0) this.log.info("what this console lacks is remembered; not asking for it again today", { lacks: known });
  }

  /** The access policy of the last full sync (both false until a 2026 console said otherwise). */
  accessPolicy(): AccessPolicy {
    return { ...this.policy };
  }

  /** Commit when not commissioned (lightweight and staged on a 2026 console), else sync after 5 s; then periodically. */
  start(commissioned: boolean): void {
    if (this.loop) return;
    this.abort = new AbortController();
    const signal = this.abort.signal;
    const { clock } = this.options;
    this.loop = (async () => {
      try {
        if (!commissioned) await this.startUncommissioned(signal);
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

  /** §5.3: a lightweight commit, then users/groups after 0-5 s, the rest after 30-60 s (2026); else the full commit. */
  private async startUncommissioned(signal: AbortSignal): Promise<void> {
    const { clock } = this.options;
    const random = this.options.random ?? Math.random;
    let light = false;
    await this.guard(async () => {
      light = await this.serialised(() => this.lightweightCommit());
    });
    if (!light) return;
    const started = clock.monotonic();
    const accountsAt = Math.floor(random() * 6) * 1000;
    const restAt = (30 + Math.floor(random() * 31)) * 1000;
    await clock.sleep(accountsAt, signal);
    await this.guard(() => this.serialised(() => this.syncNow(ACCOUNTS_STAGE)));
    await clock.sleep(Math.max(0, restAt - (clock.monotonic() - started)), signal);
    await this.guard(() => this.serialised(() => this.syncNow(REST_STAGE)));
  }

  /**
   * The first commit of a server that is not commissioned. Asks the sync-check (with the info and os hashes):
   * a 2026 console gets the lightweight commit; an older one (404), or a failure, the full commit. True when
   * the lightweight one was sent.
   */
  private async lightweightCommit(): Promise<boolean> {
    if (this.endpoints.lacks(SYNC_CHECK)) {
      await this.commitNow();
      return false;
    }
    const snapshot = await this.collect(["server", "info", "os"]);
    if (!snapshot.info || !snapshot.os) {
      await this.commitNow();
      return false;
    }
    const hashes = snapshotHashes(snapshot, ["info", "os"]);
    const answer = await this.syncCheck(hashes);
    if (answer.kind !== "required") {
      await this.commitNow();
      return false;
    }
    const body = commitBody({ server: snapshot.server!, info: snapshot.info, os: snapshot.os }, this.options.version, hashes);
    const id = this.options.outbox.enqueue(commitItem(encodeCommit(body)));
    this.track(id, ["server", "info", "os"]);
    this.options.outbox.enqueue(committedEvent(this.options.version, id));
    this.log.info("committed the lightweight system information; users and groups follow in seconds, the rest in a minute");
    return true;
  }

  /** Collects everything and enqueues the commit and the `committed` event (and, on older consoles, the firewall sync). */
  commit(): Promise<{ keys: number }> {
    return this.serialised(() => this.commitNow());
  }

  private async commitNow(): Promise<{ keys: number }> {
    if (this.kind === undefined && !this.endpoints.lacks(SYNC_CHECK)) {
      // The console's kind decides the form; info and os are small enough to collect for the question alone.
      const asked = await this.collectKeys(["info", "os"]);
      if (asked.info && asked.os) await this.syncCheck(snapshotHashes(asked, ["info", "os"]));
    }
    const form: CommitForm = this.kind === "2026" ? "2026" : "older";
    const commit = await this.buildCommitText(form);
    const id = this.options.outbox.enqueue(commitItem(commit));
    this.track(id, ["server", ...Object.keys(KEY_DEFS)]);
    this.options.outbox.enqueue(committedEvent(this.options.version, id));
    if (commit.firewall !== undefined)
      this.options.outbox.enqueue({ method: "POST", path: FIREWALL_SYNC_PATH, priority: PRIORITY_INVENTORY, body: commit.firewall });
    this.log.info("committed system information", { keys: commit.keys, packages: commit.packages });
    return { keys: commit.keys };
  }

  /** The full commit as text: from the helper when there is one, else built here. */
  private async buildCommitText(form: CommitForm): Promise<CommitText> {
    const { version, commitText } = this.options;
    if (commitText) {
      try {
        return await commitText(form, version, this.abort.signal);
      } catch (err) {
        // As when every collector fails: what this process knows is committed, nothing else is sent empty.
        this.collectionFailed("could not collect the inventory; the commit carries only the agent's version and host facts", {
          form,
          error: err,
        });
        const server = { version, load: 0, ...(await this.readHostFacts()) };
        return { ...encodeCommit(commitBody({ server }, version, form === "2026" ? {} : undefined)), packages: 0 };
      }
    }
    const snapshot = await this.collect(form === "2026" ? SNAPSHOT_KEYS.filter((k) => k !== "packages") : SNAPSHOT_KEYS);
    const chains = form === "older" ? await this.firewallChainsOrNone() : undefined;
    return buildCommit(snapshot, version, form, chains);
  }

  /**
   * Syncs the given keys (all when empty, with the access policy on a 2026 console); unknown names are ignored
   * with a warning.
   */
  sync(keys: readonly string[] = []): Promise<SyncSummary> {
    const wanted = keys.length === 0 ? [...SYNC_KEYS] : SYNC_KEYS.filter((k) => keys.includes(k));
    const unknown = keys.filter((k) => !(SYNC_KEYS as readonly string[]).includes(k));
    if (unknown.length > 0) this.log.warn("sync: ignored unknown keys", { keys: unknown });
    return this.serialised(async () => {
      const summary = await this.syncNow(wanted);
      if (keys.length === 0 && this.kind === "2026") await this.fetchAccessPolicy();
      return summary;
    });
  }

  /** The hook for the user and group commands: one users+groups sync, coalesced while one is waiting. */
  requestUsersAndGroupsSync(): void {
    if (this.accountsSyncQueued) return;
    this.accountsSyncQueued = true;
    this.serialised(() => {
      this.accountsSyncQueued = false;
      return this.syncNow(ACCOUNTS_STAGE);
    }).catch((err) => this.log.warn("users and groups sync failed", { error: err }));
  }

  /** Wire to the outbox's onSettled: a refused write makes its key compare with the console next time. */
  onOutboxSettled(item: SettledItem): void {
    const keys = this.rowKeys.get(item.id);
    if (!keys) return;
    this.rowKeys.delete(item.id);
    if (item.outcome !== "dropped") return;
    this.syncState.forget(keys);
    for (const k of keys) if (isHashedKey(k)) this.dirty.add(k);
  }

  private async collect(keys: readonly SnapshotKey[]): Promise<Partial<Snapshot>> {
    const snapshot = await this.collectKeys(keys);
    // The version is this process's: a helper started from a binary upgraded on disk is a newer one.
    if (snapshot.server) Object.assign(snapshot.server, { version: this.options.version }, await this.readHostFacts());
    return snapshot;
  }

  private async collectKeys(keys: readonly SnapshotKey[]): Promise<Partial<Snapshot>> {
    if (this.options.collect) {
      try {
        return await this.options.collect(keys, this.abort.signal);
      } catch (err) {
        // As when each collector fails: the keys are left out, never sent empty.
        this.collectionFailed("could not collect the inventory; these keys are left out", { keys: keys.join(","), error: err });
        return {};
      }
    }
    // Loaded on first use, so an agent that collects through its helper never loads the collectors.
    const { collectSnapshot } = await import("./collect.ts");
    return collectSnapshot(this.env, this.log, keys);
  }

  /** A failed collection is a warning; one the inventory's stop cut short is no failure (debug). */
  private collectionFailed(warning: string, fields: Record<string, unknown>): void {
    if (this.abort.signal.aborted) this.log.debug("the inventory stopped during a collection", fields);
    else this.log.warn(warning, fields);
  }

  /** sshd_use_pam and pam_version, read at most every 3 hours (two or three short processes). */
  private async readHostFacts(): Promise<HostFacts> {
    const now = this.options.clock.now();
    if (!this.hostFacts || now - this.hostFacts.at >= HOST_FACTS_MS || now < this.hostFacts.at) {
      this.hostFacts = { at: now, facts: await readHostFacts(this.env) };
    }
    return this.hostFacts.facts;
  }

  /** POST sync-check; learns the console's kind from the answer (a 404 is remembered for a day, logged once). */
  private async syncCheck(hashes: Partial<Record<HashedKey, string>>): Promise<SyncCheckAnswer> {
    const asked = HASHED_KEYS.filter((k) => hashes[k] !== undefined);
    const result = await this.options.http.request("POST", SYNC_CHECK_PATH, {
      body: { hashes },
      timeoutMs: GET_TIMEOUT_MS,
      signal: this.abort.signal,
    });
    const answer = readSyncCheck(result, asked);
    if (answer.kind === "absent") {
      if (this.endpoints.remember(SYNC_CHECK))
        this.log.info("the console has no sync-check (a 2024/2025 console): full commits with packages and per-key syncs");
      else this.log.debug("the console still has no sync-check");
      this.kind = "older";
    } else if (answer.kind === "required") {
      const forgot = this.endpoints.forget(SYNC_CHECK);
      if (this.kind !== "2026" || forgot) this.log.info("the console checks sync hashes (2026): hash-checked sync, no packages");
      this.kind = "2026";
      if (answer.ignored.length > 0) this.log.debug("sync-check named keys this sync did not collect; ignored", { keys: answer.ignored });
    } else this.log.warn("the sync-check failed; every collected category is synced", { error: answer.why });
    return answer;
  }

  private async syncNow(keys: readonly SyncKey[]): Promise<SyncSummary> {
    const summary: SyncSummary = { synced: [], unchanged: [], skipped: [], writes: 0 };
    const hashed = HASHED_KEYS.filter((k) => keys.includes(k));
    if (hashed.length > 0 && !this.endpoints.lacks(SYNC_CHECK)) {
      const snapshot = await this.collect(["server", ...hashed]);
      this.syncServerRow(snapshot, summary);
      const hashes = snapshotHashes(snapshot, hashed);
      const answer = await this.syncCheck(hashes);
      if (answer.kind === "required" || (answer.kind === "failed" && this.kind === "2026")) {
        const forced = answer.kind === "required" ? [...answer.keys, ...this.dirty] : hashed;
        const required = HASHED_KEYS.filter((k) => forced.includes(k) && hashes[k] !== undefined);
        await this.syncCategories(snapshot, required, hashes, summary);
        for (const k of hashed) if (!required.includes(k) && hashes[k] !== undefined) summary.unchanged.push(k);
        for (const k of hashed) if (hashes[k] === undefined) summary.skipped.push(k);
        for (const k of keys) if (k === "packages" || k === "firewall") summary.skipped.push(k); // none in the 2026 dialect
        this.log.debug("inventory sync done", summary);
        return summary;
      }
      // An older console (or no answer from one never seen answering): the per-key path below.
      return this.syncKeys(
        keys.filter((k) => k !== "server"),
        summary,
        snapshot,
      );
    }
    return this.syncKeys(keys, summary);
  }

  /** The `server` PATCH (§5.2 body), unless unchanged or the console has no such route (remembered by the outbox). */
  private syncServerRow(snapshot: Partial<Snapshot>, summary: SyncSummary): void {
    if (!snapshot.server) {
      summary.skipped.push("server");
      return;
    }
    if (this.options.outbox.dialect?.(SERVER_SYNC_DIALECT) === "fallback") {
      summary.skipped.push("server");
      return;
    }
    const result = syncServer(snapshot.server, this.keyDeps());
    summary[result.outcome === "unchanged" ? "unchanged" : result.outcome].push("server");
    summary.writes += result.writes;
  }

  private async syncCategories(
    snapshot: Partial<Snapshot>,
    required: readonly HashedKey[],
    hashes: Partial<Record<HashedKey, string>>,
    summary: SyncSummary,
  ): Promise<void> {
    const deferred: SyncKey[] = [];
    const deps = {
      get: (path: string) => this.options.http.request("GET", path, { timeoutMs: GET_TIMEOUT_MS, signal: this.abort.signal }),
      write: (key: HashedKey, w: Write, hash: string) => this.enqueueWrite(key, w, { [SYNC_HASH_HEADER]: hash }),
      log: this.log,
    };
    for (const key of required) {
      if (this.abort.signal.aborted) break;
      if (this.hasUndelivered(key)) {
        summary.skipped.push(key);
        deferred.push(key);
        continue;
      }
      const result = await syncCategory(key, snapshot[key] as object | object[], hashes[key]!, deps);
      if (result.outcome === "skipped") this.dirty.add(key);
      else this.dirty.delete(key);
      summary[result.outcome === "unchanged" ? "unchanged" : result.outcome].push(key);
      summary.writes += result.writes;
    }
    if (deferred.length > 0) this.scheduleFollowUp(deferred);
  }

  private async fetchAccessPolicy(): Promise<void> {
    if (this.endpoints.lacks(ACCESS_POLICY)) return;
    const r = await this.options.http.request("GET", ACCESS_POLICY_PATH, { timeoutMs: GET_TIMEOUT_MS, signal: this.abort.signal });
    if (r.status === 404) {
      if (this.endpoints.remember(ACCESS_POLICY)) this.log.info("the console has no access policy; the flags stay as they are");
      return;
    }
    if (r.status !== 200) return;
    this.endpoints.forget(ACCESS_POLICY);
    try {
      const json = JSON.parse(r.text) as Partial<AccessPolicy> | null;
      const next = {
        block_local_sudo: typeof json?.block_local_sudo === "boolean" ? json.block_local_sudo : this.policy.block_local_sudo,
        detect_local_access: typeof json?.detect_local_access === "boolean" ? json.detect_local_access : this.policy.detect_local_access,
      };
      if (next.block_local_sudo !== this.policy.block_local_sudo || next.detect_local_access !== this.policy.detect_local_access)
        this.log.info("access policy", next);
      this.policy = next;
    } catch {
      this.log.warn("the console's access policy is not JSON; the flags stay as they are");
    }
  }

  private keyDeps(): KeySyncDeps {
    return {
      get: (path) => this.options.http.request("GET", path, { timeoutMs: GET_TIMEOUT_MS, signal: this.abort.signal }),
      write: (key, w) => this.enqueueWrite(key, w),
      state: this.syncState,
      log: this.log,
      now: () => this.options.clock.now(),
      fullResyncMs: this.options.fullResyncMs ?? FULL_RESYNC_MS,
      memory: this.endpoints,
    };
  }

  private enqueueWrite(key: string, w: Write, headers?: Record<string, string>): number {
    const id = this.options.outbox.enqueue({
      method: w.method,
      path: w.path,
      priority: PRIORITY_INVENTORY,
      ...(w.body === undefined ? {} : { body: w.body }),
      ...(headers ? { headers } : {}),
      // A console without the server PATCH (2024) answers 404 once; the outbox remembers it and drops the row quietly.
      ...(key === "server" ? { fallback: { dialect: SERVER_SYNC_DIALECT, drop: true as const } } : {}),
    });
    this.track(id, [key]);
    return id;
  }

  /** The per-key path (2024/2025 consoles): our own hash skips unchanged keys; packages and firewall included. */
  private async syncKeys(keys: readonly SyncKey[], summary: SyncSummary, collected: Partial<Snapshot> = {}): Promise<SyncSummary> {
    const deferred: SyncKey[] = [];
    const missing = keys.filter((k): k is SnapshotKey => k !== "firewall" && !(k in collected));
    const snapshot = { ...collected, ...(await this.collect(missing)) };
    const deps = this.keyDeps();
    for (const key of keys) {
      if (this.abort.signal.aborted) break;
      if (key === "firewall") {
        summary.writes += await this.syncFirewall();
        continue;
      }
      if (key === "server") {
        this.syncServerRow(snapshot, summary);
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
      const result = await syncKey(KEY_DEFS[key], data, deps);
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
    const chains = await this.firewallChainsOrNone();
    if (!chains || chains.length === 0) return 0;
    this.options.outbox.enqueue({ method: "POST", path: FIREWALL_SYNC_PATH, priority: PRIORITY_INVENTORY, body: { chains } });
    return 1;
  }

  /** The agent's firewall chains, or undefined without a reader or when it failed (logged). */
  private async firewallChainsOrNone(): Promise<unknown[] | undefined> {
    if (!this.options.firewallChains) return undefined;
    try {
      return await this.options.firewallChains(this.abort.signal);
    } catch (err) {
      this.log.warn("could not collect firewall rules; firewall sync skipped", { error: err });
      return undefined;
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
