// Hash-checked sync against a 2026 console (upstream-2026.md §5.2): the sync-check answer, and the sync of one
// category it named: GET the console's rows directly, diff, enqueue the differences with X-Sync-Hash; a 404
// means the console has no rows yet, so everything is created (one POST of the object, or of all rows as an
// array). Never throws for the console.
import * as v from "valibot";
import type { HttpResult } from "../../console/http.ts";
import type { Logger } from "../../log/logger.ts";
import { diffRows, diffSingle, parseRemoteRow, parseRemoteRows, type Write } from "./diff.ts";
import { HASHED_KEYS, type HashedKey } from "./hashes.ts";
import { KEY_DEFS } from "./keys.ts";
import type { KeyOutcome } from "./sync.ts";

export const SYNC_HASH_HEADER = "X-Sync-Hash";

/** What the 2026 console compares (§5.2): not the fields it does not store. */
const COMPARED: Partial<Record<HashedKey, readonly string[]>> = {
  time: ["timezone"],
  users: ["username", "uid", "gid", "directory", "shell"],
};

const SyncCheckReply = v.object({ sync_required: v.array(v.string()) });

export type SyncCheckAnswer =
  | { kind: "required"; keys: HashedKey[]; ignored: string[] }
  /** 404: the console has no sync-check (2024, 2025). */
  | { kind: "absent" }
  /** Any other failure: every collected category is synced (§5.2 full fallback). */
  | { kind: "failed"; why: string };

/** Reads the sync-check reply; the required keys come back in the fixed order, limited to those asked about. */
export function readSyncCheck(answer: HttpResult, asked: readonly HashedKey[]): SyncCheckAnswer {
  if (answer.status === 404) return { kind: "absent" };
  if (answer.status !== 200)
    return { kind: "failed", why: answer.status === 0 ? (answer.error ?? "no answer") : `status ${answer.status}` };
  let json: unknown;
  try {
    json = JSON.parse(answer.text);
  } catch {
    return { kind: "failed", why: "the answer is not JSON" };
  }
  const parsed = v.safeParse(SyncCheckReply, json);
  if (!parsed.success) return { kind: "failed", why: "the answer has no sync_required list" };
  const named = new Set(parsed.output.sync_required);
  const keys = HASHED_KEYS.filter((k) => named.has(k) && asked.includes(k));
  const ignored = [...named].filter((k) => !keys.includes(k as HashedKey));
  return { kind: "required", keys, ignored };
}

export interface CategorySyncDeps {
  get: (path: string) => Promise<HttpResult>;
  /** Enqueues one write with X-Sync-Hash: `hash`; returns the outbox row id. */
  write: (key: HashedKey, write: Write, hash: string) => number;
  log: Logger;
}

export async function syncCategory(
  key: HashedKey,
  data: object | object[],
  hash: string,
  deps: CategorySyncDeps,
): Promise<{ outcome: KeyOutcome; writes: number }> {
  const def = KEY_DEFS[key];
  const answer = await deps.get(def.syncPath);
  let writes: Write[];
  if (answer.status === 404) {
    // Nothing stored yet: create it all.
    if (!def.multirow) writes = [{ method: "POST", path: def.url, body: data }];
    else writes = (data as object[]).length > 0 ? [{ method: "POST", path: def.url, body: data }] : [];
  } else if (answer.status === 200) {
    const compare = COMPARED[key] ?? def.fields;
    if (def.multirow) {
      const remote = parseRemoteRows(answer.text);
      if (!remote.ok) return skipped(key, remote.error, deps.log);
      writes = diffRows(def, data as object[], remote.value, compare);
    } else {
      const remote = parseRemoteRow(answer.text);
      if (!remote.ok) return skipped(key, remote.error, deps.log);
      writes = diffSingle(def, data, remote.value, compare);
    }
  } else {
    return skipped(key, answer.status === 0 ? (answer.error ?? "no answer") : `status ${answer.status}`, deps.log);
  }
  for (const w of writes) deps.write(key, w, hash);
  return { outcome: "synced", writes: writes.length };
}

function skipped(key: HashedKey, error: string, log: Logger): { outcome: KeyOutcome; writes: number } {
  log.warn("could not read this category from the console; it is synced again next time", { key, error });
  return { outcome: "skipped", writes: 0 };
}
