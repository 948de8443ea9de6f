// Sync of one key (spec/metrics.md §10.3): skip it when its data hash matches the last sync (until the
// periodic full re-sync), else GET the console's rows directly, diff, and enqueue only the differences.
// A 404 is remembered per console (info once); an error or a malformed answer skips the key with a warning;
// nothing here ever throws for the console.
import type { HttpResult } from "../../console/http.ts";
import type { Logger } from "../../log/logger.ts";
import { diffRows, diffSingle, parseRemoteRow, parseRemoteRows, pick, type Write } from "./diff.ts";
import { SERVER_SYNC_PATH, type KeyDef } from "./keys.ts";
import { hashOf, type SyncState } from "./sync-state.ts";
import type { ServerData, TimeData } from "./types.ts";

export const GET_TIMEOUT_MS = 10_000;

export interface KeySyncDeps {
  get: (path: string) => Promise<HttpResult>;
  /** Enqueues one write; returns the outbox row id. */
  write: (key: string, write: Write) => number;
  state: SyncState;
  log: Logger;
  now: () => number;
  fullResyncMs: number;
  /**
   * What the console lacks (db/console-memory.ts): a key whose GET was answered 404 (the 2024 console has no
   * sync routes) is not asked again for a day, across restarts too.
   */
  memory: EndpointMemory;
}

/** The inventory's view of ConsoleMemory: names with the clock applied. */
export interface EndpointMemory {
  lacks(name: string): boolean;
  /** True when this is news (log it at info); false when a daily re-probe found the same (debug). */
  remember(name: string): boolean;
  /** True when it had been remembered missing (log the change at info). */
  forget(name: string): boolean;
}

/** The memory name of a key's sync GET. */
export const syncGetName = (key: string) => `sync-get:${key}`;

export type KeyOutcome = "unchanged" | "synced" | "skipped";

/**
 * What a key's hash covers. `time` hashes only the zone and the boot time (to the minute): its datetime
 * and uptime change every second, which made the reference PATCH it on every sync.
 */
export function hashView(def: KeyDef, data: unknown): unknown {
  if (def.key === "time") {
    const t = data as TimeData;
    return { timezone: t.timezone, boot_minute: Math.round(t.boot_time / 60) };
  }
  return def.multirow ? (data as object[]).map((r) => pick(r, def.fields)) : pick(data as object, def.fields);
}

/**
 * The `server` key has no GET: PATCH {version, load} when the version or the load rounded to a whole number
 * changed, or at the full re-sync; the reference sent it on every sync.
 */
export function syncServer(data: ServerData, deps: KeySyncDeps): { outcome: KeyOutcome; writes: number } {
  const hash = hashOf({
    version: data.version,
    pam_version: data.pam_version ?? "",
    sshd_use_pam: data.sshd_use_pam ?? null,
    load: Math.round(data.load),
  });
  const last = deps.state.get("server");
  if (last && last.hash === hash && deps.now() - last.syncedAt < deps.fullResyncMs) return { outcome: "unchanged", writes: 0 };
  deps.write("server", { method: "PATCH", path: SERVER_SYNC_PATH, body: data });
  deps.state.set("server", hash, deps.now());
  return { outcome: "synced", writes: 1 };
}

export async function syncKey(def: KeyDef, data: object | object[], deps: KeySyncDeps): Promise<{ outcome: KeyOutcome; writes: number }> {
  const hash = hashOf(hashView(def, data));
  const last = deps.state.get(def.key);
  if (last && last.hash === hash && deps.now() - last.syncedAt < deps.fullResyncMs) return { outcome: "unchanged", writes: 0 };

  const name = syncGetName(def.key);
  if (deps.memory.lacks(name)) return { outcome: "skipped", writes: 0 };
  const answer = await deps.get(def.syncPath);
  if (answer.status === 404) {
    const fields = { key: def.key, path: def.syncPath };
    if (deps.memory.remember(name)) deps.log.info("the console has no sync route for this key; not asking again for a day", fields);
    else deps.log.debug("the console still has no sync route for this key", fields);
    return { outcome: "skipped", writes: 0 };
  }
  if (answer.status === 200 && deps.memory.forget(name)) deps.log.info("the console has a sync route for this key now", { key: def.key });
  if (answer.status !== 200) {
    const why = answer.status === 0 ? (answer.error ?? "no answer") : `status ${answer.status}`;
    deps.log.warn("could not read this key's state from the console; skipped it", { key: def.key, error: why });
    return { outcome: "skipped", writes: 0 };
  }
  let writes: Write[];
  if (def.multirow) {
    const remote = parseRemoteRows(answer.text);
    if (!remote.ok) return malformed(def, remote.error, deps.log);
    writes = diffRows(def, data as object[], remote.value);
  } else {
    const remote = parseRemoteRow(answer.text);
    if (!remote.ok) return malformed(def, remote.error, deps.log);
    writes = diffSingle(def, data, remote.value);
  }
  for (const w of writes) deps.write(def.key, w);
  deps.state.set(def.key, hash, deps.now());
  return { outcome: "synced", writes: writes.length };
}

function malformed(def: KeyDef, error: string, log: Logger): { outcome: KeyOutcome; writes: number } {
  log.warn("the console's answer for this key is malformed; skipped it", { key: def.key, error });
  return { outcome: "skipped", writes: 0 };
}
