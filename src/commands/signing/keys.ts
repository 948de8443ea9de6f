// Which public keys may verify a command (upstream-2026.md §1.3). Either the operator's pinned keys
// (`[signing] public_keys`: never fetched, nothing else verifies) or the signer's one active key, fetched
// from `key_url`, kept with its expiry in the state DB, refreshed when stale and re-fetched at once when a
// command names another key_id (a rotation). One fetch is in flight at a time, and a fetch the lookup forces
// (rotation, retry-once) starts at most every MIN_FORCED_FETCH_MS: a console sending made-up key ids
// cannot turn the agent into a load generator for the key server.
import type { PinnedKey } from "../../config/schema.ts";
import type { SigningKeyStore, StoredSigningKey } from "../../db/signing-key.ts";
import type { Logger } from "../../log/logger.ts";
import type { Clock } from "../../platform/clock.ts";
import type { KeyFetchResult } from "./key-fetch.ts";
import { type Ed25519Key, ed25519PublicKey } from "./verify.ts";

/** Upstream's KeyRefreshSecs: a key without expires_at is stale an hour after it was fetched. */
export const KEY_TTL_MS = 3_600_000;
export const MIN_FORCED_FETCH_MS = 10_000;

export interface KeyCandidate {
  keyId: string;
  key: Ed25519Key;
}

export type KeyLookup = { ok: true; keys: KeyCandidate[] } | { ok: false; error: string };

export interface KeySource {
  /** Synchronous when the answer is at hand (a pinned or fresh cached key). */
  lookup(keyId: string | undefined): KeyLookup | Promise<KeyLookup>;
  /** After a mismatch of a command without key_id: fetches again; a key to retry with, when it changed. */
  refetch(): Promise<KeyCandidate | undefined>;
}

export class PinnedKeys implements KeySource {
  private readonly keys: KeyCandidate[];

  constructor(pins: PinnedKey[]) {
    this.keys = pins.map((pin) => ({ keyId: pin.keyId, key: ed25519PublicKey(pin.publicKey)! }));
  }

  lookup(keyId: string | undefined): KeyLookup {
    if (keyId === undefined) return { ok: true, keys: this.keys };
    const pinned = this.keys.find((k) => k.keyId === keyId);
    return pinned ? { ok: true, keys: [pinned] } : { ok: false, error: `key_id ${JSON.stringify(keyId)} is not one of the pinned keys` };
  }

  async refetch(): Promise<undefined> {
    return undefined;
  }
}

interface ActiveKey extends StoredSigningKey {
  key: Ed25519Key;
}

export interface FetchedKeysOptions {
  url: string;
  fetchKey: () => Promise<KeyFetchResult>;
  store?: SigningKeyStore;
  clock: Clock;
  log: Logger;
}

export class FetchedKeys implements KeySource {
  private active: ActiveKey | undefined;
  private inFlight: Promise<void> | undefined;
  /** Its error (undefined when it worked), of the last fetch. */
  private lastFetch: { error: string | undefined } | undefined;
  /** Monotonic time the last forced fetch (rotation, retry-once) started. */
  private lastForcedAt: number | undefined;

  constructor(private readonly options: FetchedKeysOptions) {
    const stored = options.store?.load(options.url);
    const key = stored && ed25519PublicKey(stored.publicKey);
    if (stored && key) this.active = { ...stored, key };
  }

  lookup(keyId: string | undefined): KeyLookup | Promise<KeyLookup> {
    const active = this.fresh();
    if (keyId === undefined) {
      if (active) return { ok: true, keys: [active] };
      return this.fetch(false).then(() => this.settle(undefined));
    }
    if (active && active.keyId === keyId) return { ok: true, keys: [active] };
    // Another key_id than the fresh cached one: a rotation, so fetch even though the cached key is fresh.
    return this.fetch(active !== undefined).then(() => this.settle(keyId));
  }

  async refetch(): Promise<KeyCandidate | undefined> {
    const before = this.active;
    await this.fetch(true);
    const after = this.fresh();
    return after && after !== before && after.publicKey !== before?.publicKey ? after : undefined;
  }

  private fresh(): ActiveKey | undefined {
    const active = this.active;
    return active && this.options.clock.now() < active.staleAt ? active : undefined;
  }

  private settle(keyId: string | undefined): KeyLookup {
    const active = this.fresh();
    const problem = this.lastFetch?.error;
    if (!active) return { ok: false, error: problem ? `cannot fetch the signing key: ${problem}` : "no fresh signing key" };
    if (keyId !== undefined && active.keyId !== keyId) {
      return {
        ok: false,
        error: `key_id ${JSON.stringify(keyId)} is not the active key (${JSON.stringify(active.keyId)})${problem ? `; the last fetch failed: ${problem}` : ""}`,
      };
    }
    return { ok: true, keys: [active] };
  }

  /** Fetches unless one is in flight (then waits for it) or, when forced, another forced one started very recently. */
  private fetch(forced: boolean): Promise<void> {
    if (this.inFlight) return this.inFlight;
    const { clock } = this.options;
    if (forced) {
      if (this.lastForcedAt !== undefined && clock.monotonic() - this.lastForcedAt < MIN_FORCED_FETCH_MS) return Promise.resolve();
      this.lastForcedAt = clock.monotonic();
    }
    const run = this.fetchOnce().finally(() => {
      this.inFlight = undefined;
    });
    this.inFlight = run;
    return run;
  }

  private async fetchOnce(): Promise<void> {
    const { clock, log, url } = this.options;
    let result: KeyFetchResult;
    try {
      result = await this.options.fetchKey();
    } catch (err) {
      result = { ok: false, error: (err as Error).message ?? String(err) };
    }
    this.lastFetch = { error: result.ok ? undefined : result.error };
    if (!result.ok) {
      log.warn("could not fetch the command signing key", { url: keyHost(url), problem: result.error });
      return;
    }
    const fetched = result.key;
    const now = clock.now();
    if (fetched.badExpiry) log.warn("the signing key's expires_at is not RFC 3339; it is kept for an hour", { key_id: fetched.keyId });
    const key = ed25519PublicKey(fetched.publicKey);
    if (!key) return; // checked by the fetch already
    const next: ActiveKey = {
      url,
      keyId: fetched.keyId,
      publicKey: fetched.publicKey,
      fetchedAt: now,
      staleAt: fetched.expiresAt ?? now + KEY_TTL_MS,
      key,
    };
    if (this.active?.keyId !== next.keyId || this.active.publicKey !== next.publicKey) {
      log.info("fetched the command signing key", { key_id: next.keyId, stale_at: new Date(next.staleAt).toISOString() });
    }
    this.active = next;
    try {
      this.options.store?.save({ url, keyId: next.keyId, publicKey: next.publicKey, fetchedAt: next.fetchedAt, staleAt: next.staleAt });
    } catch (err) {
      log.warn("could not store the signing key; it is kept in memory", { error: (err as Error).message });
    }
  }
}

/** The key server's scheme and host: its path and query are configuration, not something to log. */
export function keyHost(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return "(invalid URL)";
  }
}
